package kube

import (
	"maps"
	"net"
	"slices"

	corev1 "k8s.io/api/core/v1"
	netv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/bottle-sandbox/bottle/spec"
)

// networkPolicy lets the pod take nothing in and send nothing out but DNS
// and what its egress gateway dials (egressRules): a second layer, where
// the cluster enforces NetworkPolicies, under the pod's own isolation.
func networkPolicy(meta metav1.ObjectMeta, labels map[string]string, dials []spec.Dial) *netv1.NetworkPolicy {
	return &netv1.NetworkPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
		ObjectMeta: meta,
		Spec: netv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{spec.LabelIdentity: labels[spec.LabelIdentity]}},
			PolicyTypes: []netv1.PolicyType{netv1.PolicyTypeIngress, netv1.PolicyTypeEgress},
			Egress:      egressRules(dials),
		},
	}
}

// egressRules let out DNS (the gateway resolves names), TCP to an address
// the gateway dials (a route's literal address, an upstream rewritten to
// one) on its ports alone, and TCP to any address on the ports the
// gateway dials names on (a name's addresses are the resolver's to say).
func egressRules(dials []spec.Dial) []netv1.NetworkPolicyEgressRule {
	dns := []netv1.NetworkPolicyPort{
		{Protocol: ptr(corev1.ProtocolUDP), Port: ptr(intstr.FromInt32(53))},
		{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(53))},
	}
	rules := []netv1.NetworkPolicyEgressRule{{Ports: dns}}
	byBlock := map[string][]int{}
	var named []int
	for _, d := range dials {
		ip := net.ParseIP(d.Host)
		switch {
		case ip == nil:
			named = append(named, d.Port)
		case ip.To4() != nil:
			byBlock[ip.String()+"/32"] = append(byBlock[ip.String()+"/32"], d.Port)
		default:
			byBlock[ip.String()+"/128"] = append(byBlock[ip.String()+"/128"], d.Port)
		}
	}
	for _, block := range slices.Sorted(maps.Keys(byBlock)) {
		rules = append(rules, netv1.NetworkPolicyEgressRule{To: []netv1.NetworkPolicyPeer{{IPBlock: &netv1.IPBlock{CIDR: block}}}, Ports: tcp(byBlock[block])})
	}
	if len(named) > 0 {
		rules = append(rules, netv1.NetworkPolicyEgressRule{Ports: tcp(named)})
	}
	return rules
}

// tcp are TCP ports, each once, in order.
func tcp(ports []int) []netv1.NetworkPolicyPort {
	var out []netv1.NetworkPolicyPort
	for _, p := range slices.Compact(slices.Sorted(slices.Values(ports))) {
		out = append(out, netv1.NetworkPolicyPort{Protocol: ptr(corev1.ProtocolTCP), Port: ptr(intstr.FromInt32(int32(p)))})
	}
	return out
}

// allows says whether rules let TCP out to d: to its address's block, or
// on its port to anywhere.
func allows(rules []netv1.NetworkPolicyEgressRule, d spec.Dial) bool {
	ip := net.ParseIP(d.Host)
	for _, r := range rules {
		port := slices.ContainsFunc(r.Ports, func(p netv1.NetworkPolicyPort) bool {
			return (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) && p.Port != nil && p.Port.IntValue() == d.Port
		})
		if !port {
			continue
		}
		if len(r.To) == 0 {
			return true
		}
		for _, peer := range r.To {
			if peer.IPBlock == nil || ip == nil {
				continue
			}
			if _, block, err := net.ParseCIDR(peer.IPBlock.CIDR); err == nil && block.Contains(ip) {
				return true
			}
		}
	}
	return false
}
