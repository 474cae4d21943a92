package netguard

import (
	"net/netip"
	"testing"
)

func TestAllowed(t *testing.T) {
	t.Parallel()
	allowLoopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cases := []struct {
		addr  string
		allow []netip.Prefix
		want  bool
	}{
		{"93.184.216.34", nil, true},
		{"2606:2800:220:1::1", nil, true},
		{"127.0.0.1", nil, false},
		{"127.0.0.1", allowLoopback, true},
		{"10.1.2.3", nil, false},
		{"172.16.0.1", nil, false},
		{"172.32.0.1", nil, true},
		{"192.168.1.1", nil, false},
		{"169.254.169.254", nil, false},
		{"100.64.0.1", nil, false},
		{"0.0.0.0", nil, false},
		{"224.0.0.1", nil, false},
		{"255.255.255.255", nil, false},
		{"::", nil, false},
		{"::1", nil, false},
		{"::1", allowLoopback, false},
		{"fd00::1", nil, false},
		{"fe80::1", nil, false},
		{"::ffff:127.0.0.1", nil, false},
		{"::ffff:10.0.0.1", nil, false},
		{"::ffff:127.0.0.1", allowLoopback, true},
		{"64:ff9b::a00:1", nil, false},
	}
	for _, tc := range cases {
		if got := Allowed(netip.MustParseAddr(tc.addr), tc.allow); got != tc.want {
			t.Errorf("Allowed(%s, %v) = %v, want %v", tc.addr, tc.allow, got, tc.want)
		}
	}
}

func TestCheckURL(t *testing.T) {
	t.Parallel()
	allowLoopback := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cases := []struct {
		url   string
		allow []netip.Prefix
		ok    bool
	}{
		{"https://example.com/answer", nil, true},
		{"http://example.com:8080/a?b=c", nil, true},
		{"http://93.184.216.34/", nil, true},
		{"ftp://example.com/", nil, false},
		{"example.com/answer", nil, false},
		{"https:///nohost", nil, false},
		{"https://user:pw@example.com/", nil, false},
		{"http://127.0.0.1:9/", nil, false},
		{"http://127.0.0.1:9/", allowLoopback, true},
		{"http://localhost/", nil, false},
		{"http://localhost/", allowLoopback, true},
		{"http://app.localhost/", nil, false},
		{"http://10.0.0.1/", nil, false},
		{"http://169.254.169.254/latest/meta-data", nil, false},
		{"http://[::1]/", nil, false},
		{"http://[fe80::1%25eth0]/", nil, false},
		{"http://[2606:2800:220:1::1]/", nil, true},
		{"http://%zz/", nil, false},
	}
	for _, tc := range cases {
		err := CheckURL(tc.url, tc.allow)
		if (err == nil) != tc.ok {
			t.Errorf("CheckURL(%q) = %v, want ok=%v", tc.url, err, tc.ok)
		}
	}
}

func TestParseCIDRs(t *testing.T) {
	t.Parallel()
	got, err := ParseCIDRs(" 10.0.0.0/8, 192.0.2.7 ,::1,")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("got %v, want %v", got[i], want[i])
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "nope", "1.2.3"} {
		if _, err := ParseCIDRs(bad); err == nil {
			t.Errorf("ParseCIDRs(%q) accepted", bad)
		}
	}
}
