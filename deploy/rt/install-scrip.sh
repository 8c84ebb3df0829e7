#!/usr/bin/env bash
# install-scrip.sh - install (or update) abusegw's status-change webhook scrip
# in Request Tracker 5. Run it as root on the RT host; it uses RT's own Perl
# API as the web server's user (REST2 has no endpoint for scrips).
#
#   ABUSEGW_WEBHOOK_URL=https://abusegw.example.net/webhooks/rt \
#   ABUSEGW_WEBHOOK_SECRET_FILE=/etc/abusegw/rt-webhook-secret \
#   ./install-scrip.sh
#
# Environment:
#   ABUSEGW_WEBHOOK_URL          where abusegw listens: .../webhooks/<connector name> (required)
#   ABUSEGW_WEBHOOK_SECRET       the shared secret, or
#   ABUSEGW_WEBHOOK_SECRET_FILE  a file holding it (the same as the connector's webhook_secret)
#   ABUSEGW_KEY_FIELD            the ticket custom field with the case key [AbuseKey]
#   RT_RUN_AS                    the user RT runs as [www-data]
#   RT_LIB                       RT's Perl library [/usr/share/request-tracker5/lib]
# Idempotent: a second run updates the scrip in place.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${ABUSEGW_WEBHOOK_URL:?set ABUSEGW_WEBHOOK_URL (https://abusegw.example.net/webhooks/rt)}"
if [ -z "${ABUSEGW_WEBHOOK_SECRET:-}" ] && [ -n "${ABUSEGW_WEBHOOK_SECRET_FILE:-}" ]; then
  ABUSEGW_WEBHOOK_SECRET=$(tr -d '\r\n' < "$ABUSEGW_WEBHOOK_SECRET_FILE")
fi
: "${ABUSEGW_WEBHOOK_SECRET:?set ABUSEGW_WEBHOOK_SECRET or ABUSEGW_WEBHOOK_SECRET_FILE}"
ABUSEGW_KEY_FIELD=${ABUSEGW_KEY_FIELD:-AbuseKey}
RT_RUN_AS=${RT_RUN_AS:-www-data}
RT_LIB=${RT_LIB:-/usr/share/request-tracker5/lib}
[ "$(id -u)" = 0 ] || { echo "install-scrip.sh: run as root" >&2; exit 1; }

code=$(mktemp); trap 'rm -f "$code"' EXIT
chmod 0644 "$code"
cp "$here/abusegw-webhook.pl" "$code"

cd / && setpriv --reuid="$RT_RUN_AS" --regid="$RT_RUN_AS" --init-groups \
  env ABUSEGW_WEBHOOK_URL="$ABUSEGW_WEBHOOK_URL" ABUSEGW_WEBHOOK_SECRET="$ABUSEGW_WEBHOOK_SECRET" \
      ABUSEGW_KEY_FIELD="$ABUSEGW_KEY_FIELD" CODE_FILE="$code" RT_LIB="$RT_LIB" \
  perl -e '
use strict; use warnings;
BEGIN { unshift @INC, "/usr/local/share/request-tracker5/lib", $ENV{RT_LIB} }
use RT -init;
sub perl_str { my $s = shift; $s =~ s/([\\\x27])/\\$1/g; return $s }
open my $fh, "<", $ENV{CODE_FILE} or die "reading the scrip code: $!\n";
my $code = do { local $/; <$fh> };
$code =~ s/__ABUSEGW_WEBHOOK_URL__/perl_str($ENV{ABUSEGW_WEBHOOK_URL})/e;
$code =~ s/__ABUSEGW_WEBHOOK_SECRET__/perl_str($ENV{ABUSEGW_WEBHOOK_SECRET})/e;
$code =~ s/__ABUSEGW_KEY_FIELD__/perl_str($ENV{ABUSEGW_KEY_FIELD})/e;
my $desc = "abusegw: status-change webhook";
my $scrips = RT::Scrips->new(RT->SystemUser);
$scrips->Limit(FIELD => "Description", VALUE => $desc);
my $scrip = $scrips->First;
if (!$scrip) {
    $scrip = RT::Scrip->new(RT->SystemUser);
    my ($ok, $msg) = $scrip->Create(Queue => 0, Description => $desc,
        ScripCondition => "On Status Change", ScripAction => "User Defined", Template => "Blank",
        CustomIsApplicableCode => "", CustomPrepareCode => "return 1;", CustomCommitCode => $code);
    $ok or die "creating the scrip: $msg\n";
    print "install-scrip: created scrip ", $scrip->id, "\n";
} else {
    # RT trims what it stores; compare without trailing white space.
    if ((($scrip->CustomCommitCode // "") =~ s/\s+\z//r) ne ($code =~ s/\s+\z//r)) {
        my ($ok, $msg) = $scrip->SetCustomCommitCode($code);
        $ok or die "updating the scrip: $msg\n";
        print "install-scrip: updated scrip ", $scrip->id, "\n";
    } else {
        print "install-scrip: scrip ", $scrip->id, " is up to date\n";
    }
    $scrip->SetDisabled(0) if $scrip->Disabled;
}
' 2> >(grep -v '\[info\]' >&2)
