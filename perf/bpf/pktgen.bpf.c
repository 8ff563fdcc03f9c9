// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet generator engine for `xvs-pktgen`, run by BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES: the kernel builds each frame from the
 * userspace template (data_in), runs this program on it, and transmits
 * every frame the program returns XDP_TX for out of ctx_in.ingress_ifindex.
 *
 * Per frame the program writes one varying 16-bit word (the UDP/TCP source
 * port or the low half of the source address) to its template value plus
 * the flow index (this CPU's frame counter modulo `flows`), optionally a
 * CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns, big-endian) into the
 * payload, and the checksums those touch, updated incrementally from the
 * template's (RFC 1624). It writes every field it varies on every frame:
 * the kernel recycles the frame pages without copying the template again.
 */
#include <linux/bpf.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* Written by userspace before the first run; offsets count from the start of
 * the frame, checksums are as in the template (network byte order, loaded as
 * native 16-bit words: one's-complement sums do not care about byte order as
 * long as every word is taken the same way). */
struct pg_cfg {
	__u32 flows;        /* number of values the varying word takes, >= 1 */
	__u16 var_off;      /* offset of the varying big-endian 16-bit word */
	__u16 var_base;     /* its template value, host order */
	__u16 ip_csum_off;  /* 0: the word is not in the IPv4 header */
	__u16 ip_csum;      /* template IPv4 header checksum */
	__u16 l4_csum_off;  /* UDP or TCP checksum */
	__u16 l4_csum;      /* template L4 checksum (timestamp bytes zero) */
	__u16 ts_off;       /* 0: no timestamp; else even offset in the L4 payload */
	__u16 is_udp;       /* a computed UDP checksum of 0 is sent as 0xffff */
};

struct pg_counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_cfg);
} pg_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct pg_counts);
} pg_counts SEC(".maps");

/* Frames are at most 1564 bytes (1514 in Geneve); offsets are masked to
 * this bound so the verifier can check each access against data_end. */
#define OFF_MASK 0x7ff

static __always_inline __u32 fold(__u32 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

SEC("xdp")
int xvs_pktgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct pg_counts *c;
	struct pg_cfg *cfg;
	__u32 key = 0, flow, l4sum, ipsum;
	__u16 old_w, new_w, *p;

	cfg = bpf_map_lookup_elem(&pg_cfg, &key);
	c = bpf_map_lookup_elem(&pg_counts, &key);
	if (!cfg || !c || cfg->flows == 0)
		return XDP_ABORTED;

	flow = (__u32)(c->packets % cfg->flows);
	old_w = bpf_htons(cfg->var_base);
	new_w = bpf_htons((__u16)(cfg->var_base + flow));
	/* ~HC' = ~HC + ~m + m' (RFC 1624, eqn. 3) */
	l4sum = (__u16)~cfg->l4_csum + (__u16)~old_w + new_w;
	ipsum = (__u16)~cfg->ip_csum + (__u16)~old_w + new_w;

	p = data + (cfg->var_off & OFF_MASK);
	if ((void *)(p + 1) > data_end)
		return XDP_ABORTED;
	*p = new_w;

	if (cfg->ts_off) {
		__u64 ts = bpf_cpu_to_be64(bpf_ktime_get_ns());
		__u64 *t = data + (cfg->ts_off & OFF_MASK);

		if ((void *)(t + 1) > data_end)
			return XDP_ABORTED;
		__builtin_memcpy(t, &ts, sizeof(ts));
		l4sum += (__u16)ts + (__u16)(ts >> 16) + (__u16)(ts >> 32) + (__u16)(ts >> 48);
	}

	if (cfg->ip_csum_off) {
		p = data + (cfg->ip_csum_off & OFF_MASK);
		if ((void *)(p + 1) > data_end)
			return XDP_ABORTED;
		*p = (__u16)~fold(ipsum);
	}
	p = data + (cfg->l4_csum_off & OFF_MASK);
	if ((void *)(p + 1) > data_end)
		return XDP_ABORTED;
	new_w = (__u16)~fold(l4sum);
	if (cfg->is_udp && new_w == 0)
		new_w = 0xffff;
	*p = new_w;

	c->packets++;
	c->bytes += data_end - data;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
