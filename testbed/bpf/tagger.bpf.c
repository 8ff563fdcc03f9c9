// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The node-VM tagger of the testbed: what the small switch inside a
 * Kubernetes node VM does, as tc (clsact ingress) programs.
 *
 *   from_pod   on each pod-facing veth: push the pod's VLAN id and send the
 *              frame out of the vNIC.
 *   from_vnic  on the vNIC: pop the VLAN id and send the frame to that pod;
 *              untagged frames are the node VM's own and pass; a VLAN id of
 *              no pod is dropped.
 *
 * The kernel moves a received 802.1Q tag into skb metadata before tc ingress,
 * so from_vnic reads it from skb->vlan_tci.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

/* pod-facing ifindex -> VLAN id */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} vlan_of_pod SEC(".maps");

/* VLAN id -> pod-facing ifindex */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} pod_of_vlan SEC(".maps");

/* [0] = ifindex of the vNIC */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} vnic SEC(".maps");

SEC("tc")
int from_pod(struct __sk_buff *skb)
{
	__u32 key = 0, in = skb->ingress_ifindex;
	__u32 *vid = bpf_map_lookup_elem(&vlan_of_pod, &in);
	__u32 *out = bpf_map_lookup_elem(&vnic, &key);

	if (!vid || !out || !*out)
		return TC_ACT_SHOT;
	if (bpf_skb_vlan_push(skb, bpf_htons(ETH_P_8021Q), (__u16)*vid))
		return TC_ACT_SHOT;
	return bpf_redirect(*out, 0);
}

SEC("tc")
int from_vnic(struct __sk_buff *skb)
{
	__u32 vid, *pod;

	if (!skb->vlan_present)
		return TC_ACT_OK;
	vid = skb->vlan_tci & 0x0fff;
	pod = bpf_map_lookup_elem(&pod_of_vlan, &vid);
	if (!pod)
		return TC_ACT_SHOT;
	if (bpf_skb_vlan_pop(skb))
		return TC_ACT_SHOT;
	return bpf_redirect(*pod, 0);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
