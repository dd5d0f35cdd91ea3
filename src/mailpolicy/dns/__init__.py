"""Protected domains and their DNS: `records` reads the ownership TXT record, SPF and DMARC
(dnspython; checkdmarc's SPF and DMARC parsers); `verifier` decides what that means for each
domain and records it, in the background of `mailpolicy serve` and on demand."""
