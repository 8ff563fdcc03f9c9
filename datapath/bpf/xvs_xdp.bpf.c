// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * xvswitch XDP programs: the first stage of the datapath, run in the kernel
 * on every interface xvswitchd owns. They only steer: a frame either goes to
 * the interface queue's AF_XDP socket (via the xskmap) or to the kernel.
 *
 *   xvs_vif     on vifs: every frame goes to the socket.
 *   xvs_uplink  on the uplink: only Geneve (UDP 6081) to the local TEP address
 *               goes to the socket; ARP, the host's own traffic, fragments and
 *               everything else pass to the kernel untouched.
 *
 * If a queue has no socket bound, bpf_redirect_map falls back to XDP_PASS.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define GENEVE_PORT 6081

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

/* Uplink settings written by xvswitchd: the local TEP address (network order). */
struct uplink_cfg {
	__u32 tep_ip;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct uplink_cfg);
} uplink_cfg SEC(".maps");

SEC("xdp")
int xvs_vif(struct xdp_md *ctx)
{
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

SEC("xdp")
int xvs_uplink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;
	struct uplink_cfg *cfg;
	__u32 key = 0;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(ETH_P_IP))
		return XDP_PASS;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > data_end || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
		return XDP_PASS;
	/* Fragments go to the kernel: it reassembles, we never see them. */
	if (ip->frag_off & bpf_htons(0x3fff))
		return XDP_PASS;
	cfg = bpf_map_lookup_elem(&uplink_cfg, &key);
	if (!cfg || cfg->tep_ip == 0 || ip->daddr != cfg->tep_ip)
		return XDP_PASS;
	udp = (void *)ip + ip->ihl * 4;
	if ((void *)(udp + 1) > data_end || udp->dest != bpf_htons(GENEVE_PORT))
		return XDP_PASS;
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
