// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Benchmark sink: counts IPv4 frames, untagged or with one 802.1Q tag
 * (Geneve-encapsulated frames are IPv4 too), at the driver (native XDP), and
 * drops them; everything else (ARP) passes to the kernel so the sender can
 * resolve the sink's address.
 *
 * sink_cfg (all zero by default) changes two things:
 * - pass: count, then pass the frame to the kernel instead of dropping it
 *   (so tcpdump on the interface sees what arrives);
 * - latency: each counted frame of at least 60 bytes carries, in its last
 *   8 bytes, the CLOCK_MONOTONIC time it was sent (ns, big-endian); the
 *   sink adds now − then to a histogram of LAT_BUCKETS buckets of
 *   2^LAT_SHIFT ns (the last one collects everything longer). The tail of a
 *   frame is where every switch leaves it: tags and tunnel headers come and
 *   go at the front.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define LAT_SHIFT 8      /* 256 ns buckets */
#define LAT_BUCKETS 8192 /* up to ~2.1 ms */

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct sink_cfg {
	__u32 pass;
	__u32 latency;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counts);
} sink_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_cfg);
} sink_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LAT_BUCKETS);
	__type(key, __u32);
	__type(value, __u64);
} sink_latency SEC(".maps");

/* Frames are at most 1600 bytes (the uplink MTU + Ethernet header): the
 * timestamp offset is masked to this bound for the verifier. */
#define OFF_MASK 0x7ff

static __always_inline void record_latency(void *data, void *data_end)
{
	__u64 len = data_end - data, sent, now, delta, *slot;
	__u32 bucket;
	__u8 *t;

	if (len < 60)
		return;
	t = data + ((len - 8) & OFF_MASK);
	if ((void *)(t + 8) > data_end)
		return;
	__builtin_memcpy(&sent, t, sizeof(sent));
	sent = bpf_be64_to_cpu(sent);
	now = bpf_ktime_get_ns();
	delta = now > sent ? now - sent : 0;
	delta >>= LAT_SHIFT;
	bucket = delta < LAT_BUCKETS - 1 ? (__u32)delta : LAT_BUCKETS - 1;
	slot = bpf_map_lookup_elem(&sink_latency, &bucket);
	if (slot)
		(*slot)++;
}

SEC("xdp")
int xvs_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct sink_cfg *cfg;
	__u32 key = 0;
	struct counts *c;
	__be16 proto;

	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	proto = eth->h_proto;
	if (proto == bpf_htons(ETH_P_8021Q)) {
		/* the tag's TCI, then the inner EtherType */
		__be16 *inner = (void *)(eth + 1) + 2;

		if ((void *)(inner + 1) > data_end)
			return XDP_PASS;
		proto = *inner;
	}
	if (proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	c = bpf_map_lookup_elem(&sink_counts, &key);
	if (c) {
		c->packets++;
		c->bytes += data_end - data;
	}
	cfg = bpf_map_lookup_elem(&sink_cfg, &key);
	if (!cfg)
		return XDP_DROP;
	if (cfg->latency)
		record_latency(data, data_end);
	return cfg->pass ? XDP_PASS : XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
