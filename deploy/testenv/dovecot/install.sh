#!/usr/bin/env bash
# Installs Debian's Dovecot for the IMAP channel tests
# (gateway/channels/imap), which start their own throwaway `dovecot -F` on
# 127.0.0.1 with free ports, a temporary maildir and a self-signed CA. The
# package's own service is kept from running: the tests need none of it.
set -euo pipefail
if ! command -v dovecot >/dev/null 2>&1 && [ ! -x /usr/sbin/dovecot ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -qq dovecot-imapd >/dev/null 2>&1 ||
		{ apt-get update -qq && apt-get install -y -qq dovecot-imapd >/dev/null; }
fi
# Where policy-rc.d did not prevent it, stop the packaged service.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet dovecot 2>/dev/null; then
	systemctl stop dovecot || true
fi
if [ -f /run/dovecot/master.pid ]; then
	kill "$(cat /run/dovecot/master.pid)" 2>/dev/null || true
fi
