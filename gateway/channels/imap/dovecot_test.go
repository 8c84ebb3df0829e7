package imap_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// DovecotEnv names a dovecot binary other than the one on PATH or in
// /usr/sbin.
const DovecotEnv = "ABUSEGW_TEST_DOVECOT"

// testPassword is every test user's password.
const testPassword = "s3cret-Test"

// dovecot is a throwaway Dovecot on 127.0.0.1: plain/STARTTLS on one port,
// implicit TLS on another, a self-signed CA in caFile, and users u1…u64.
type dovecot struct {
	plain, tls string // addresses
	caFile     string
	next       atomic.Int32
}

// user returns a fresh user's name, so parallel tests do not share mailboxes.
func (d *dovecot) user(t *testing.T) string {
	n := d.next.Add(1)
	if n > 64 {
		t.Fatal("out of dovecot test users")
	}
	return fmt.Sprintf("u%d", n)
}

// dovecotBinary finds dovecot, or skips (fails when CI=true).
func dovecotBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv(DovecotEnv); p != "" && p != "1" {
		return p
	}
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/dovecot"); err == nil {
		return "/usr/sbin/dovecot"
	}
	msg := "dovecot is not installed (apt-get install -y dovecot-imapd, or bash deploy/testenv/dovecot/install.sh)"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI must run the IMAP tests")
	}
	t.Skip("IMAP tests skipped: " + msg)
	return ""
}

// startDovecot runs `dovecot -F` with a configuration in a temporary
// directory and stops it when the test ends.
func startDovecot(t *testing.T) *dovecot {
	t.Helper()
	bin := dovecotBinary(t)
	dir := t.TempDir()
	// The mail user must reach its maildir below the test's directory.
	for p := dir; p != os.TempDir() && p != "/" && p != "."; p = filepath.Dir(p) {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	caFile, certFile, keyFile := writeCerts(t, dir)
	var passwd strings.Builder
	for i := 1; i <= 64; i++ {
		fmt.Fprintf(&passwd, "u%d:{PLAIN}%s\n", i, testPassword)
	}
	mustWrite(t, filepath.Join(dir, "passwd"), passwd.String())
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	// As root, login processes and mail access drop to Debian's dovenull;
	// as anyone else, everything runs as that user.
	me, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	mailUser, users := me.Username, ""
	if os.Geteuid() == 0 {
		mailUser = "dovenull"
		u, err := user.Lookup(mailUser)
		if err != nil {
			t.Fatalf("dovecot test: user %s: %v", mailUser, err)
		}
		var uid, gid int
		fmt.Sscan(u.Uid, &uid)
		fmt.Sscan(u.Gid, &gid)
		if err := os.Chown(filepath.Join(dir, "mail"), uid, gid); err != nil {
			t.Fatal(err)
		}
	} else {
		users = fmt.Sprintf("default_login_user = %[1]s\ndefault_internal_user = %[1]s\n", me.Username)
	}
	g, err := user.LookupGroupId(mustLookup(t, mailUser).Gid)
	if err != nil {
		t.Fatal(err)
	}
	plainPort, tlsPort := freePort(t), freePort(t)
	dh := ""
	if _, err := os.Stat("/usr/share/dovecot/dh.pem"); err == nil {
		dh = "ssl_dh = </usr/share/dovecot/dh.pem\n"
	}
	conf := fmt.Sprintf(`base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[2]s
ssl_key = <%[3]s
%[4]sdisable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:%[1]s/mail/%%u
first_valid_uid = 0
%[5]spassdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/passwd
}
userdb {
  driver = static
  args = uid=%[6]s gid=%[7]s home=%[1]s/mail/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[8]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[9]d
    ssl = yes
  }
}
`, dir, certFile, keyFile, dh, users, mailUser, g.Name, plainPort, tlsPort)
	confFile := filepath.Join(dir, "dovecot.conf")
	mustWrite(t, confFile, conf)

	cmd := exec.Command(bin, "-F", "-c", confFile)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting dovecot: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if t.Failed() {
			if b, err := os.ReadFile(filepath.Join(dir, "dovecot.log")); err == nil {
				t.Logf("dovecot.log:\n%s", b)
			}
		}
	})
	d := &dovecot{
		plain:  fmt.Sprintf("127.0.0.1:%d", plainPort),
		tls:    fmt.Sprintf("127.0.0.1:%d", tlsPort),
		caFile: caFile,
	}
	// Ready when a login works: the port answers before the auth process.
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "dovecot.log"))
			t.Fatalf("dovecot exited: %v\n%s", err, b)
		default:
		}
		c, err := d.client("u64")
		if err == nil {
			_ = c.Logout().Wait()
			_ = c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("dovecot did not answer on %s: %v", d.plain, err)
		}
		time.Sleep(50 * time.Millisecond) // polling a starting server's port
	}
	return d
}

// client logs in as user over the plain port.
func (d *dovecot) client(user string) (*imapclient.Client, error) {
	c, err := imapclient.DialInsecure(d.plain, &imapclient.Options{Dialer: &net.Dialer{Timeout: 5 * time.Second}})
	if err != nil {
		return nil, err
	}
	if err := c.Login(user, testPassword).Wait(); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// appendMessages delivers raw messages into a user's mailbox by IMAP APPEND
// and returns their UIDs.
func (d *dovecot) appendMessages(t *testing.T, user, mailbox string, msgs ...[]byte) []uint32 {
	t.Helper()
	c, err := d.client(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var uids []uint32
	for _, m := range msgs {
		cmd := c.Append(mailbox, int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			t.Fatal(err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatal(err)
		}
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("APPEND: %v", err)
		}
		uids = append(uids, uint32(data.UID))
	}
	_ = c.Logout().Wait()
	return uids
}

// mailbox lists a mailbox's messages: UID → seen.
func (d *dovecot) mailbox(t *testing.T, user, mailbox string) map[uint32]bool {
	t.Helper()
	c, err := d.client(user)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Select(mailbox, &goimap.SelectOptions{ReadOnly: true}).Wait(); err != nil {
		t.Fatalf("select %s: %v", mailbox, err)
	}
	out := map[uint32]bool{}
	msgs, err := c.Fetch(goimap.SeqSet{{Start: 1, Stop: 0}}, &goimap.FetchOptions{UID: true, Flags: true}).Collect()
	if err != nil && !strings.Contains(err.Error(), "No messages") && !strings.Contains(err.Error(), "Invalid messageset") {
		t.Fatalf("fetch %s: %v", mailbox, err)
	}
	for _, m := range msgs {
		seen := false
		for _, f := range m.Flags {
			seen = seen || f == goimap.FlagSeen
		}
		out[uint32(m.UID)] = seen
	}
	_ = c.Logout().Wait()
	return out
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func mustLookup(t *testing.T, name string) *user.User {
	t.Helper()
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func mustWrite(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeCerts makes a CA and a server certificate for 127.0.0.1 signed by it.
func writeCerts(t *testing.T, dir string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "abusegw test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	mustWrite(t, caFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})))
	mustWrite(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	mustWrite(t, keyFile, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER})))
	return caFile, certFile, keyFile
}
