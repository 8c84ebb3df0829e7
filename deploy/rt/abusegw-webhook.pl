# abusegw status-change webhook: the commit code of an RT scrip
# (condition "On Status Change", action "User Defined", template "Blank").
# install-scrip.sh fills in the three placeholders and installs it.
#
# It POSTs, for every status change of every ticket:
#   {"actor":...,"case_key":...,"old_status":...,"queue":...,"status":...,"ticket":N,"time":"YYYY-MM-DD hh:mm:ss","transaction":N}
# with the headers
#   X-Abusegw-Signature: sha256=<hex HMAC-SHA256 of the body under the shared secret>
#   X-Abusegw-Delivery:  <transaction id>
# abusegw checks the signature, records the delivery (repeats are recognised by
# the transaction id) and reads the ticket back through REST2 before it trusts
# anything: the webhook is a hint, the API is the truth.
my $url       = '__ABUSEGW_WEBHOOK_URL__';
my $secret    = '__ABUSEGW_WEBHOOK_SECRET__';
my $key_field = '__ABUSEGW_KEY_FIELD__';

require LWP::UserAgent;
require JSON;
require Digest::SHA;

my $txn    = $self->TransactionObj;
my $ticket = $self->TicketObj;
my $body   = JSON->new->canonical->utf8->encode({
    ticket      => $ticket->id + 0,
    status      => $txn->NewValue // '',
    old_status  => $txn->OldValue // '',
    transaction => $txn->id + 0,
    time        => $txn->CreatedObj->ISO(Timezone => 'UTC'),
    queue       => $ticket->QueueObj->Name // '',
    actor       => $txn->CreatorObj->Name // '',
    case_key    => $ticket->FirstCustomFieldValue($key_field) // '',
});
my $signature = Digest::SHA::hmac_sha256_hex($body, $secret);
my $ua  = LWP::UserAgent->new(timeout => 5, agent => 'abusegw-rt-webhook/1');
my $res = $ua->post($url,
    'Content-Type'        => 'application/json',
    'X-Abusegw-Signature' => "sha256=$signature",
    'X-Abusegw-Delivery'  => $txn->id,
    Content               => $body);
if ($res->is_success) {
    RT->Logger->info('abusegw webhook: ticket ' . $ticket->id . ' ' . ($txn->NewValue // '') . ' -> ' . $res->status_line);
} else {
    # abusegw's nightly reconcile catches what a failed delivery missed.
    RT->Logger->warning('abusegw webhook: ticket ' . $ticket->id . ' failed: ' . $res->status_line);
}
return 1;
