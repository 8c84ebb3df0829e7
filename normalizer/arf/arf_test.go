package arf

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusegw/abusegw/normalizer"
)

// TestFixtures asserts, for every sample, the source a person reading the
// mail writes down (decided by reading each file), and the time it arrived.
func TestFixtures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, ip, fqdn, from, time, provider, feed string
	}{
		// Source-IP 10.17.18.1; Reported-Domain server.domain5.tld is the
		// sending host (its Received line says so); Received-Date, not Arrival-Date.
		{"AOL_example_1.eml", "10.17.18.1", "server.domain5.tld", "Source-IP", "2016-01-19T19:32:40+00:00", "aol.net", "AOL SComp"},
		// ReturnPath generator: Reported-Domain is the recipient's own
		// domain (comcast.net), not the spammer's, so no source.fqdn.
		{"Comcast_example_2.eml", "10.17.18.6", "", "Source-IP", "2016-01-19T15:14:53+00:00", "comcastfbl.senderscore.net", "ReturnPathFBL"},
		{"Cox_example_1.eml", "10.17.18.7", "", "Source-IP", "2015-12-21T22:52:30+00:00", "fbl.cox.net", "ReturnPathFBL"},
		{"Fastmail_example_1.eml", "10.17.18.9", "", "Source-IP", "2016-01-16T11:09:22+00:00", "fbl.fastmail.com", "ReturnPathFBL"},
		{"Rackspace_example_1.eml", "10.17.18.14", "", "Source-IP", "2015-12-29T05:21:10+00:00", "fbl.apps.rackspace.com", "ReturnPathFBL"},
		// No Reported-Domain at all.
		{"RoadRunner_example_1.eml", "10.17.18.16", "", "Source-IP", "2016-01-13T16:41:53+00:00", "feedback.postmaster.rr.com", "ReturnPathFBL"},
		// Reported-Domain kjo.com.sa is also the recipient's domain.
		{"USANet_example_1.eml", "10.17.18.23", "", "Source-IP", "2015-10-14T06:59:38+00:00", "fbl.usa.net", "ReturnPathFBL"},
		// Original starts with a ">From " line.
		{"Yahoo_example_1.eml", "10.17.18.25", "", "Source-IP", "2016-01-18T23:57:24+00:00", "arf.mail.yahoo.com", "Yahoo!-Mail-Feedback"},
		// Top-level Content-Type folded over two lines.
		{"Zoho_example_1.eml", "10.17.18.28", "", "Source-IP", "2015-09-07T15:58:04+00:00", "fbl.zoho.com", "Zoho Mail"},
		// CRLF; Version 1.0; Source-IP wins over the original's Received
		// hops (192.0.2.41/.45), as the report's own subject says.
		{"arf-01-crlf.eml", "192.0.2.89", "example.ed.jp", "Source-IP", "2009-04-29T00:00:00+00:00", "example.co.jp", "SMP-FBL"},
		// No Source-IP: the original's only Received hop, mx53.example.net
		// [192.0.2.2]; no Arrival-Date: that hop's date.
		{"arf-11.eml", "192.0.2.2", "", "Received", "2006-04-09T14:34:45+00:00", "example.com", "ARF-Agent"},
		// Seven Original-Rcpt-To and two Reported-Domain, all recipients'.
		{"arf-16.eml", "192.0.2.1", "", "Source-IP", "2015-04-29T23:34:45+00:00", "feedback.example.com", "ReturnPathFBL"},
		{"spamexperts_1.eml", "172.16.10.13", "", "Source-IP", "2015-08-04T08:51:18+00:00", "server1.test17.example.com", "SpamExperts"},
	}
	files, _ := filepath.Glob("testdata/*.eml")
	if len(files) != len(tests) {
		t.Fatalf("%d fixtures, %d cases", len(files), len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			evs, err := ParseMessage(f, tt.file)
			if err != nil || len(evs) != 1 {
				t.Fatalf("ParseMessage = %d events, %v", len(evs), err)
			}
			ev := evs[0]
			want := map[string]any{
				"source.ip": tt.ip, "extra.source_ip_from": tt.from, "time.source": tt.time,
				"classification.type": "spam", "classification.identifier": "arf-abuse",
				"classification.taxonomy": "abusive-content", "feed.provider": tt.provider,
				"feed.name": tt.feed, "extra.feedback_type": "abuse",
			}
			for k, v := range want {
				if got := ev.Fields[k]; got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
			if got := ev.String("source.fqdn"); got != tt.fqdn {
				t.Errorf("source.fqdn = %q, want %q", got, tt.fqdn)
			}
			if ev.Raw.File != tt.file || ev.Raw.Part != "2" {
				t.Errorf("RawRef = %+v", ev.Raw)
			}
			if ev.String("extra.subject") == "" {
				t.Error("original Subject not kept")
			}
			for k, v := range ev.Fields {
				if !strings.HasPrefix(k, "extra.") {
					if _, err := normalizer.Sanitize(k, v); err != nil {
						t.Errorf("%s: %v", k, err)
					}
				}
			}
		})
	}
}

func TestFixtureDetails(t *testing.T) {
	t.Parallel()
	f, err := os.Open("testdata/arf-16.eml")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	evs, err := ParseMessage(f, "arf-16.eml")
	if err != nil {
		t.Fatal(err)
	}
	rcpts, _ := evs[0].Fields["extra.original_rcpt_to"].([]string)
	if len(rcpts) != 7 || rcpts[0] != "kijitora@example.com" || rcpts[6] != "sabineko@example.com" {
		t.Errorf("original_rcpt_to = %v, want 7 in mail order", rcpts)
	}
	if got := evs[0].Fields["extra.original_mail_from"]; got != "neko@example.jp" {
		t.Errorf("original_mail_from = %v", got)
	}
}

const original = "Received: from mx.reporter.example (mx.reporter.example [10.0.0.5])\n" +
	"\tby store.reporter.example; Tue, 5 Jan 2016 10:00:01 +0000\n" +
	"Received: from spammer.example (unknown [198.51.100.77])\n" +
	"\tby mx.reporter.example with ESMTP; Tue, 5 Jan 2016 10:00:00 +0000\n" +
	"Received: from localhost (localhost [127.0.0.1]) by spammer.example; Tue, 5 Jan 2016 09:59:59 +0000\n" +
	"Subject: =?UTF-8?B?QnV5IG5vdyE=?=\n" +
	"Message-ID: <abc@spammer.example>\n" +
	"From: Spammer <s@spammer.example>\n\nbody\n"

func TestParseFeedbackPart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, report string
		orig         string
		want         map[string]any
	}{
		{"bracketed Source-IP, odd casing, CRLF, folded",
			"FEEDBACK-TYPE: Fraud\r\nuser-agent: SomeFBL/2.1\r\nversion: 1\r\nsource-ip: [192.0.2.10]\r\nArrival-Date: Thu, 8 Mar 2005\r\n 14:00:00 EDT\r\nReported-URI: http://phish.example/login\r\nIncidents: 3\r\n",
			"", map[string]any{"source.ip": "192.0.2.10", "classification.type": "phishing",
				"classification.identifier": "arf-fraud", "time.source": "2005-03-08T18:00:00+00:00",
				"source.url": "http://phish.example/login", "feed.name": "SomeFBL", "extra.incidents": 3}},
		{"no Source-IP: first external Received hop",
			"Feedback-Type: abuse\nUser-Agent: X/1\nVersion: 1\n", original,
			map[string]any{"source.ip": "198.51.100.77", "extra.source_ip_from": "Received",
				"time.source": "2016-01-05T10:00:01+00:00", "extra.subject": "Buy now!",
				"extra.message_id": "abc@spammer.example"}},
		{"unparsable Source-IP falls back to Received",
			"Feedback-Type: virus\nSource-IP: unknown\n", original,
			map[string]any{"source.ip": "198.51.100.77", "extra.source_ip": "unknown",
				"classification.type": "malware-distribution"}},
		{"Source-IP with port and IPv6",
			"Feedback-Type: auth-failure\nSource-IP: [2001:db8::25]:25\n", "",
			map[string]any{"source.ip": "2001:db8::25", "classification.type": "masquerade"}},
		{"missing Feedback-Type means abuse; Reported-Domain of the sender kept",
			"Source-IP: 192.0.2.11\nReported-Domain: sender.example\nOriginal-Rcpt-To: user@victim.example\n", "",
			map[string]any{"classification.type": "spam", "source.fqdn": "sender.example", "feed.name": "ARF"}},
		{"not-spam",
			"Feedback-Type: not-spam\nSource-IP: 192.0.2.12\nX-Custom-Field: yes\n", "",
			map[string]any{"classification.type": "other", "extra.x_custom_field": "yes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var orig *strings.Reader
			if tt.orig != "" {
				orig = strings.NewReader(tt.orig)
			}
			var ev normalizer.Event
			var err error
			if orig != nil {
				ev, err = ParseFeedbackPart(strings.NewReader(tt.report), orig)
			} else {
				ev, err = ParseFeedbackPart(strings.NewReader(tt.report), nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if got := ev.Fields[k]; got != v {
					t.Errorf("%s = %#v, want %#v", k, got, v)
				}
			}
		})
	}
}

func TestParseFeedbackPartNoSource(t *testing.T) {
	t.Parallel()
	_, err := ParseFeedbackPart(strings.NewReader("Feedback-Type: abuse\n"), nil)
	var fe *normalizer.FieldError
	if !errors.Is(err, ErrNoSource) || !errors.As(err, &fe) || fe.Field != "Source-IP" {
		t.Fatalf("err = %v, want ErrNoSource on Source-IP", err)
	}
}

func TestParseMessageErrors(t *testing.T) {
	t.Parallel()
	plain := "From: a@b.example\nSubject: hi\nContent-Type: text/plain\n\nhello\n"
	if _, err := ParseMessage(strings.NewReader(plain), "plain.eml"); !errors.Is(err, normalizer.ErrUnrecognized) {
		t.Errorf("plain mail: err = %v, want ErrUnrecognized", err)
	}
	noSource := "From: fbl@isp.example\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\n\n" +
		"--b\nContent-Type: message/feedback-report\n\nFeedback-Type: abuse\n\n--b--\n"
	_, err := ParseMessage(strings.NewReader(noSource), "nosrc.eml")
	var re *normalizer.RowError
	if !errors.As(err, &re) || re.Part != "1" || re.Field != "Source-IP" || re.File != "nosrc.eml" {
		t.Errorf("err = %v, want a RowError for part 1, field Source-IP", err)
	}
	// Mislabelled feedback part: text/plain inside multipart/report.
	mislabelled := "From: fbl@isp.example\nContent-Type: multipart/report; report-type=\"Feedback-Report\"; boundary=b\n\n" +
		"--b\nContent-Type: text/plain\n\nThis is a report.\n--b\nContent-Type: text/plain\n\nFeedback-Type: abuse\nSource-IP: 192.0.2.9\n\n--b--\n"
	evs, err := ParseMessage(strings.NewReader(mislabelled), "m.eml")
	if err != nil || len(evs) != 1 || evs[0].String("source.ip") != "192.0.2.9" || evs[0].Raw.Part != "2" {
		t.Errorf("mislabelled: %v, %v", evs, err)
	}
}

func TestIsFeedbackReport(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		ct   string
		want bool
	}{
		{`multipart/report; report-type=feedback-report; boundary="x"`, true},
		{`multipart/report; boundary="x"; report-type="feedback-report"`, true},
		{`Multipart/Report; Report-Type=Feedback-Report; boundary=x; boundary=y`, true},
		{`message/feedback-report`, true},
		{`multipart/report; report-type=delivery-status; boundary=x`, false},
		{`text/plain`, false},
		{``, false},
	} {
		if got := IsFeedbackReport(tt.ct); got != tt.want {
			t.Errorf("IsFeedbackReport(%q) = %v", tt.ct, got)
		}
	}
}

func TestReceivedFromIP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ rcv, want string }{
		{"from server.domain5.tld (server.domain5.tld [10.17.18.1]) by mtaig", "10.17.18.1"},
		{"from 127.0.0.1  (EHLO server.domain4.tld) (10.17.18.25) by mta1059.mail.ir2.yahoo.com", "10.17.18.25"},
		{"from [10.17.18.14] ([10.17.18.14:61680] helo=WEBFOREVER.home) by smtp53", "10.17.18.14"},
		{"from server.domain3.tld [10.17.18.23] by nm11.cms.usa.net via smtad", "10.17.18.23"},
		{"from mail.example ([IPv6:2001:db8::1]) by mx", "2001:db8::1"},
		{"(qmail 24962 invoked from network); 19 Jan 2016", ""},
		{"by imap36.nyi.internal (Postfix, from userid 99) id 179E62FC63", ""},
	} {
		a, ok := receivedFromIP(tt.rcv)
		got := ""
		if ok {
			got = a.String()
		}
		if got != tt.want {
			t.Errorf("receivedFromIP(%q) = %q, want %q", tt.rcv, got, tt.want)
		}
	}
}
