package mail

import (
	"archive/zip"
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

func readAll(t testing.TB, r normalizer.Reader) ([]normalizer.Event, []*normalizer.RowError, error) {
	t.Helper()
	evs, rows, err := normalizer.ReadAll(r, 1e5)
	if errors.Is(err, normalizer.ErrTooMany) {
		t.Fatal("reader does not end")
	}
	return evs, rows, err
}

// summary is what a person reading the mail writes down.
func summary(ev normalizer.Event) string {
	var parts []string
	for _, k := range []string{"source.ip", "source.url", "source.fqdn", "source.port", "time.source", "classification.type", "classification.identifier"} {
		if v := ev.String(k); v != "" {
			parts = append(parts, v)
		}
	}
	return ev.Raw.Part + " " + strings.Join(parts, " ")
}

// csvParts is a stand-in for auto's part parser: it recognises *.csv files
// and yields one event per data line, with the IP in the first column that
// parses as one.
func csvParts(name, contentType string, body io.Reader) (normalizer.Reader, string, error) {
	if !strings.HasSuffix(strings.ToLower(name), ".csv") {
		return nil, "", fmt.Errorf("%s: %w", name, normalizer.ErrUnrecognized)
	}
	var evs []any
	sc := bufio.NewScanner(body)
	line := 0
	for sc.Scan() {
		line++
		if line == 1 {
			continue
		}
		for _, f := range strings.Split(sc.Text(), ",") {
			if a, err := normalizer.ParseAddr(strings.Trim(f, `"`)); err == nil {
				ev := normalizer.NewEvent(2)
				_ = ev.Set("source.ip", a.String())
				_ = ev.Set("classification.type", "test")
				ev.Raw.Line = line
				evs = append(evs, ev)
				break
			}
		}
	}
	return &sliceReader{evs: evs}, "testcsv", nil
}

func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		format  string
		want    []string
		rowErrs int
	}{
		{"spamcop/sample2", "notice:spamcop", []string{"1 213.251.151.160 2015-04-29T21:20:28+00:00 spam spamcop"}, 0},
		{"google/Safe_Browsing_Report_1.eml", "notice:google-safe-browsing", []string{
			"1 10.0.2.23 http://nacions.com/ 2015-01-01T00:00:00+00:00 malware-distribution safe-browsing",
			"1 10.0.2.23 http://nacions.com/wordpress/ 2015-01-01T00:00:00+00:00 malware-distribution safe-browsing",
			"1 10.0.2.23 http://nacions.com/gallery2/ 2015-01-01T00:00:00+00:00 malware-distribution safe-browsing",
			"1 http://10.0.2.26:2222/CMD_FILE_MANAGER/domains/derada.com/public_html/wp-content/themes/econature/framework/class 2015-01-01T00:00:00+00:00 malware-distribution safe-browsing",
			"1 http://10.0.2.26:2222/CMD_FILE_MANAGER/domains/zacater.com/public_html/wp-content/plugins/flexicache/_data 2015-01-01T00:00:00+00:00 malware-distribution safe-browsing",
		}, 0},
		{"projecthoneypot/Projecthoneypot_Example_free_1.eml", "notice:projecthoneypot", []string{
			"1 10.0.2.1 other harvesting", "1 10.0.2.2 other harvesting", "1 10.0.2.3 other harvesting",
			"1 10.0.2.4 spam comment-spam", "1 10.0.2.5 spam comment-spam",
		}, 0},
		{"projecthoneypot/Projecthoneypot_Example_paid_1.eml", "notice:projecthoneypot", []string{
			"1 192.168.1.19 2015-09-21T18:00:00+00:00 other harvesting",
			"1 192.168.1.21 2015-09-21T17:00:00+00:00 spam email-spam",
			"1 192.168.1.22 2015-09-21T18:00:00+00:00 brute-force dictionary-attack",
			"1 192.168.1.23 2015-09-21T17:00:00+00:00 spam comment-spam",
			"1 192.168.1.23 2015-09-21T07:00:00+00:00 undetermined suspicious",
		}, 0},
		// The CSV attachments are read by the (stand-in) part parser, so the
		// text body is not read as a notice.
		{"abusehub/Abusehub_Example_1.eml", "testcsv", []string{"1.2 172.16.10.13 test", "1.3 172.16.10.13 test"}, 0},
		{"cleanmx/Cleanmx_Example_2.eml", "notice:cleanmx-viruses", []string{
			"1.1 172.16.10.13 http://8f2e67c462.victim.tld/ victim.tld 2015-09-14T05:49:54+00:00 malware-distribution clean-mx-viruses",
		}, 0},
		{"copyrightcompliance/Copyrightcompliance_Example_1.eml", "notice:acns", []string{
			"1 10.0.2.100 34890 2015-09-04T13:19:53+00:00 copyright copyright",
		}, 0},
		{"webiron/Webiron_Example_1.eml", "notice:webiron", []string{
			"1.1 172.16.31.20 2015-05-16T00:03:11+00:00 infected-system webiron-botnet",
			"1.1 172.16.31.20 2015-05-16T00:03:11+00:00 infected-system webiron-botnet",
		}, 0},
		{"webiron/Webiron_Example_2.eml", "notice:webiron", []string{
			"1 172.16.10.13 2015-09-26T05:14:33+00:00 infected-system webiron-botnet",
		}, 0},
		{"shadowserver/2019-10-15-scan_http-sample-asn.csv.zip.eml", "testcsv", []string{"2 31.42.105.195 test"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			t.Parallel()
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := NewReader(f, Options{File: filepath.Base(tt.file), Parts: csvParts})
			if err != nil {
				t.Fatal(err)
			}
			evs, rows, err := readAll(t, r)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs {
				got = append(got, summary(ev))
				if ev.Raw.Part == "" {
					t.Errorf("event without part: %v", ev)
				}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events:\n got %q\nwant %q", got, tt.want)
			}
			if len(rows) != tt.rowErrs {
				t.Errorf("row errors %v", rows)
			}
			if fs := r.Formats(); len(fs) == 0 || fs[0] != tt.format {
				t.Errorf("formats %v, want %s", fs, tt.format)
			}
		})
	}
}

func TestShadowserverZips(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("testdata/shadowserver/*.eml")
	for _, p := range files {
		var names []string
		parts := func(name, ct string, body io.Reader) (normalizer.Reader, string, error) {
			names = append(names, name)
			return csvParts(name, ct, body)
		}
		f, _ := os.Open(p)
		r, err := NewReader(f, Options{File: filepath.Base(p), Parts: parts})
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		evs, rows, err := readAll(t, r)
		if err != nil || len(rows) > 0 || len(evs) == 0 {
			t.Errorf("%s: err %v rows %v events %d", p, err, rows, len(evs))
		}
		want := strings.TrimSuffix(filepath.Base(p), ".zip.eml")
		if len(names) != 1 || names[0] != want {
			t.Errorf("%s: parts offered %q, want %q", p, names, want)
		}
		for _, ev := range evs {
			if ev.Raw.File != want || ev.Raw.Part != "2" || ev.Raw.Line < 2 {
				t.Errorf("raw ref %+v", ev.Raw)
			}
		}
	}
}

func mimeMail(parts ...string) string {
	var b strings.Builder
	b.WriteString("From: someone@example.org\r\nSubject: test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=BB\r\n\r\n")
	for _, p := range parts {
		b.WriteString("--BB\r\n" + p + "\r\n")
	}
	b.WriteString("--BB--\r\n")
	return b.String()
}

func b64(b []byte) string {
	var buf bytes.Buffer
	enc := base64Encoder(&buf)
	enc.Write(b)
	enc.Close()
	return buf.String()
}

func zipOf(t testing.TB, files map[string][]byte) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for name, data := range files {
		w, err := zw.Create(name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
	}
	zw.Close()
	return buf.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func TestStructure(t *testing.T) {
	t.Parallel()
	csv := []byte("ip\n192.0.2.1\n")
	nested := "From: x@example.org\r\nContent-Type: multipart/mixed; boundary=CC\r\n\r\n--CC\r\nContent-Type: text/plain\r\n\r\nhello\r\n--CC\r\nContent-Type: text/csv\r\nContent-Disposition: attachment; filename=\"in.csv\"\r\n\r\nip\n192.0.2.7\n\r\n--CC--\r\n"
	bomb := gz(bytes.Repeat([]byte("A"), 1<<20))
	tests := []struct {
		name    string
		mail    string
		limits  Limits
		want    []string
		rowErrs int
		unrec   bool
	}{
		{
			name: "gzip attachment, base64",
			mail: mimeMail("Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=r.csv.gz\r\n\r\n" + b64(gz(csv))),
			want: []string{"1 192.0.2.1 test"},
		},
		{
			name: "zip inside zip",
			mail: mimeMail("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.zip\r\n\r\n" +
				b64(zipOf(t, map[string][]byte{"b.zip": zipOf(t, map[string][]byte{"c.csv": csv})}))),
			want: []string{"1 192.0.2.1 test"},
		},
		{
			name: "message/rfc822 part",
			mail: mimeMail("Content-Type: text/plain\r\n\r\nsee attached", "Content-Type: message/rfc822\r\n\r\n"+nested),
			want: []string{"2.2 192.0.2.7 test"},
		},
		{
			name:    "decompression bomb is a row error",
			mail:    mimeMail("Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=x.csv.gz\r\n\r\n" + b64(bomb)),
			limits:  Limits{MaxDecompressed: 1 << 16},
			rowErrs: 1,
			unrec:   true,
		},
		{
			name:  "unknown sender is unrecognised",
			mail:  mimeMail("Content-Type: text/plain\r\n\r\nHello, 192.0.2.1 attacked us at 2024-01-01 10:00:00."),
			unrec: true,
		},
		{
			name:    "too many zip entries",
			mail:    mimeMail("Content-Type: application/zip\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=a.zip\r\n\r\n" + b64(zipOf(t, map[string][]byte{"a.csv": csv, "b.csv": csv, "c.csv": csv}))),
			limits:  Limits{MaxZipEntries: 2},
			want:    []string{"1 192.0.2.1 test", "1 192.0.2.1 test"},
			rowErrs: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := NewReader(strings.NewReader(tt.mail), Options{Parts: csvParts, Limits: tt.limits})
			if err != nil {
				t.Fatal(err)
			}
			evs, rows, err := readAll(t, r)
			if tt.unrec {
				if !errors.Is(err, normalizer.ErrUnrecognized) {
					t.Fatalf("err = %v, want unrecognised", err)
				}
				if len(rows) != tt.rowErrs {
					t.Errorf("row errors %v, want %d", rows, tt.rowErrs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs {
				got = append(got, summary(ev))
			}
			if len(got) != len(tt.want) || (len(got) > 0 && !reflect.DeepEqual(got, tt.want)) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if len(rows) != tt.rowErrs {
				t.Errorf("row errors %v, want %d", rows, tt.rowErrs)
			}
			for _, re := range rows {
				if re.Part == "" {
					t.Errorf("row error without part: %v", re)
				}
			}
		})
	}
}

func TestMessageParser(t *testing.T) {
	t.Parallel()
	called := 0
	msg := func(raw []byte) (normalizer.Reader, string, error) {
		called++
		if !bytes.Contains(raw, []byte("X-ARF: yes")) {
			return nil, "", normalizer.ErrUnrecognized
		}
		ev := normalizer.NewEvent(1)
		_ = ev.Set("source.ip", "192.0.2.9")
		return &sliceReader{evs: []any{ev}}, "xarf", nil
	}
	mail := "From x@example.org Mon Jan  1 00:00:00 2024\nX-ARF: yes\nSubject: x\n\nbody\n"
	r, err := NewReader(strings.NewReader(mail), Options{Message: msg})
	if err != nil {
		t.Fatal(err)
	}
	evs, _, err := readAll(t, r)
	if err != nil || len(evs) != 1 || called != 1 || r.Formats()[0] != "xarf" {
		t.Fatalf("err %v evs %v called %d formats %v", err, evs, called, r.Formats())
	}
	if h := r.Header(); h.Get("Subject") != "x" {
		t.Errorf("header %v", r.Header())
	}
}

func FuzzMail(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*")
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(mimeMail("Content-Type: message/rfc822\r\n\r\n" + mimeMail("Content-Type: application/zip\r\n\r\nPK\x03\x04"))))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := NewReader(bytes.NewReader(b), Options{Parts: csvParts, Limits: Limits{MaxPart: 1 << 20, MaxDecompressed: 1 << 20}})
		if err != nil {
			return
		}
		for i := 0; i < 100000; i++ {
			_, err := r.Next()
			if err == io.EOF {
				return
			}
			var re *normalizer.RowError
			if err != nil && !errors.As(err, &re) {
				return
			}
		}
		t.Fatal("reader does not end")
	})
}
