package e2e

import (
	"context"
	"os/exec"
	"testing"
	"time"
)

// TestCurl runs curl_test.sh, which makes its requests with curl, against
// a running serve.
func TestCurl(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Skip("curl is not installed")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed")
	}
	bs := newBackends(t, 3)
	p := startServe(t, bs, `
default_servers: []
sticky: {secret: curl-secret}
routes:
  - {name: shop, host: shop.example.com, servers: [s1]}
  - {name: api, path: /api/*, servers: [s2], rewrite: {strip_prefix: /api}}
  - {name: rr, path: /rr/*, servers: [s1, s2, s3]}
`)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bash, "curl_test.sh", p.Addr).CombinedOutput()
	if err != nil {
		t.Fatalf("curl_test.sh: %v\n%s", err, out)
	}
	t.Logf("%s", out)
}
