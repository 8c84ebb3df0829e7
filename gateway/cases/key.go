package cases

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/abusegw/abusegw/normalizer"
)

// keyPart computes one component of a case key.
type keyPart func(customer string, ev *normalizer.Event) string

// DefaultKey is the case key when none is configured: one case per customer
// and problem.
var DefaultKey = []string{"customer", "classification.identifier"}

// compileKey turns the configured key parts into functions. Parts:
// customer, classification.identifier (falls back to classification.type),
// classification.type, feed.name, source.ip, and source.network/V4[/V6] (the
// source address masked to /V4 for IPv4 and /V6 for IPv6, default 64).
func compileKey(parts []string) ([]keyPart, error) {
	if len(parts) == 0 {
		parts = DefaultKey
	}
	out := make([]keyPart, 0, len(parts))
	hasCustomer := false
	for _, p := range parts {
		switch {
		case p == "customer":
			hasCustomer = true
			out = append(out, func(c string, _ *normalizer.Event) string { return c })
		case p == "classification.identifier":
			out = append(out, func(_ string, ev *normalizer.Event) string {
				if id := ev.String("classification.identifier"); id != "" {
					return id
				}
				return ev.String("classification.type")
			})
		case p == "classification.type", p == "feed.name", p == "source.ip", p == "source.fqdn":
			field := p
			out = append(out, func(_ string, ev *normalizer.Event) string { return ev.String(field) })
		case strings.HasPrefix(p, "source.network/"):
			v4, v6, err := parseBits(strings.TrimPrefix(p, "source.network/"))
			if err != nil {
				return nil, fmt.Errorf("cases.key: %s: %w", p, err)
			}
			out = append(out, func(_ string, ev *normalizer.Event) string {
				a, ok := ev.Addr("source.ip")
				if !ok {
					return ""
				}
				bits := v6
				if a.Is4() {
					bits = v4
				}
				pfx, err := a.Prefix(bits)
				if err != nil {
					return ""
				}
				return pfx.String()
			})
		default:
			return nil, fmt.Errorf("cases.key: unknown part %q (want customer, classification.identifier, classification.type, feed.name, source.ip, source.fqdn or source.network/N)", p)
		}
	}
	if !hasCustomer {
		return nil, fmt.Errorf("cases.key must contain customer: a case belongs to one customer")
	}
	return out, nil
}

func parseBits(s string) (int, int, error) {
	v4s, v6s, has6 := strings.Cut(s, "/")
	v4, err := strconv.Atoi(v4s)
	if err != nil || v4 < 0 || v4 > 32 {
		return 0, 0, fmt.Errorf("IPv4 prefix length %q is not 0..32", v4s)
	}
	v6 := 64
	if has6 {
		v6, err = strconv.Atoi(v6s)
		if err != nil || v6 < 0 || v6 > 128 {
			return 0, 0, fmt.Errorf("IPv6 prefix length %q is not 0..128", v6s)
		}
	}
	return v4, v6, nil
}

// escapeKey keeps "/" unambiguous as the separator of key parts.
var escapeKey = strings.NewReplacer("%", "%25", "/", "%2F")

func buildKey(parts []keyPart, customer string, ev *normalizer.Event) string {
	var b strings.Builder
	for i, p := range parts {
		if i > 0 {
			b.WriteByte('/')
		}
		v := p(customer, ev)
		if v == "" {
			v = "-"
		}
		b.WriteString(escapeKey.Replace(v))
	}
	return b.String()
}

// generationKey is the key of the n-th case of one problem: the first keeps
// the base key, later ones add "#n".
func generationKey(base string, n int) string {
	if n <= 1 {
		return base
	}
	return base + "#" + strconv.Itoa(n)
}

// ipKey normalizes an address for the case's address list.
func ipKey(ev *normalizer.Event) string {
	if a, ok := ev.Addr("source.ip"); ok {
		return a.String()
	}
	if p, ok := ev.Fields["source.network"].(string); ok {
		if pfx, err := netip.ParsePrefix(p); err == nil {
			return pfx.String()
		}
	}
	if s := ev.String("source.fqdn"); s != "" {
		return s
	}
	return ev.String("source.url")
}
