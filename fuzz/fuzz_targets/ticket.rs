//! `kith_protocol::ticket::Ticket::parse` for both kinds, on the input as
//! UTF-8 (lossy) text. Round trip: a ticket that parses prints back to
//! text that parses to the same ticket.
#![no_main]

use kith_protocol::ticket::{Ticket, TicketKind};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    kith_fuzz::run(data, |data| {
        let text = kith_fuzz::text(data);
        for kind in [TicketKind::Friend, TicketKind::Pairing] {
            if let Ok(ticket) = Ticket::parse(kind, &text) {
                let _ = ticket.check_fresh(kith_fuzz::NOW);
                let again = Ticket::parse(kind, &ticket.to_text())
                    .expect("a parsed ticket's own text parses");
                assert_eq!(again, ticket, "ticket round trip");
            }
        }
    });
});
