//! Reading address books (vCard 3/4 and CSV) into identifiers for friend suggestions.

use kith_protocol::records::IdentifierKind;

/// Most contacts read from one file.
pub const MAX_CONTACTS: usize = 10_000;

/// Largest contacts file accepted, in bytes.
pub const MAX_CONTACTS_FILE_BYTES: usize = 8 * 1024 * 1024;

/// One identifier of one contact, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContactId {
    pub name: String,
    pub kind: IdentifierKind,
    pub value: String,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ContactsError {
    #[error("contacts file is larger than {MAX_CONTACTS_FILE_BYTES} bytes")]
    TooLarge,
    #[error("not a vCard or CSV file with a header naming an email or phone column")]
    UnknownFormat,
}

/// Parse a vCard file (one or more cards) or a CSV file with a header row.
pub fn parse(text: &str) -> Result<Vec<ContactId>, ContactsError> {
    if text.len() > MAX_CONTACTS_FILE_BYTES {
        return Err(ContactsError::TooLarge);
    }
    let mut ids = if text
        .trim_start()
        .to_ascii_uppercase()
        .starts_with("BEGIN:VCARD")
    {
        parse_vcard(text)
    } else {
        parse_csv(text)?
    };
    ids.dedup();
    ids.truncate(MAX_CONTACTS);
    Ok(ids)
}

fn parse_vcard(text: &str) -> Vec<ContactId> {
    // Unfold continuation lines (RFC 6350 §3.2): a line starting with a space or tab continues the previous one.
    let mut lines: Vec<String> = Vec::new();
    for raw in text.lines() {
        match (
            raw.strip_prefix(' ').or_else(|| raw.strip_prefix('\t')),
            lines.last_mut(),
        ) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => lines.push(raw.trim_end_matches('\r').to_string()),
        }
    }
    let mut out = Vec::new();
    let (mut name, mut pending): (String, Vec<(IdentifierKind, String)>) =
        (String::new(), Vec::new());
    for line in lines {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        // "item1.EMAIL;TYPE=work" → "EMAIL"
        let property = key
            .split(';')
            .next()
            .unwrap_or("")
            .rsplit('.')
            .next()
            .unwrap_or("")
            .to_ascii_uppercase();
        match property.as_str() {
            "BEGIN" => (name, pending) = (String::new(), Vec::new()),
            "FN" => name = value.trim().to_string(),
            "EMAIL" => pending.push((IdentifierKind::Email, value.to_string())),
            "TEL" => pending.push((
                IdentifierKind::Phone,
                value.trim_start_matches("tel:").to_string(),
            )),
            "END" => {
                for (kind, raw) in pending.drain(..) {
                    if let Some(value) = kind.normalise(&raw) {
                        out.push(ContactId {
                            name: name.clone(),
                            kind,
                            value,
                        });
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn parse_csv(text: &str) -> Result<Vec<ContactId>, ContactsError> {
    let mut rows = text.lines().filter(|l| !l.trim().is_empty());
    let header = split_csv_line(rows.next().ok_or(ContactsError::UnknownFormat)?);
    let column = |pred: &dyn Fn(&str) -> bool| -> Vec<usize> {
        header
            .iter()
            .enumerate()
            .filter(|(_, h)| pred(&h.to_ascii_lowercase()))
            .map(|(i, _)| i)
            .collect()
    };
    let emails = column(&|h| h.contains("mail"));
    let phones = column(&|h| h.contains("phone") || h.contains("mobile") || h == "tel");
    let names =
        column(&|h| h == "name" || h.contains("full name") || h == "display name" || h == "fn");
    if emails.is_empty() && phones.is_empty() {
        return Err(ContactsError::UnknownFormat);
    }
    let mut out = Vec::new();
    for row in rows {
        let cells = split_csv_line(row);
        let cell = |i: &usize| cells.get(*i).map(String::as_str).unwrap_or("");
        let name = names.first().map(cell).unwrap_or("").to_string();
        for (kind, columns) in [
            (IdentifierKind::Email, &emails),
            (IdentifierKind::Phone, &phones),
        ] {
            for value in columns.iter().filter_map(|i| kind.normalise(cell(i))) {
                out.push(ContactId {
                    name: name.clone(),
                    kind,
                    value,
                });
            }
        }
    }
    Ok(out)
}

/// One CSV line into cells: commas separate, double quotes quote, `""` is a quote.
fn split_csv_line(line: &str) -> Vec<String> {
    let (mut cells, mut cell, mut quoted) = (Vec::new(), String::new(), false);
    let mut chars = line.trim_end_matches('\r').chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cell.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => cells.push(std::mem::take(&mut cell)),
            _ => cell.push(c),
        }
    }
    cells.push(cell);
    cells.into_iter().map(|c| c.trim().to_string()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcard_3_and_4_with_folding_and_groups() {
        let text = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bee\r\nEMAIL;TYPE=INTERNET:B@Example.org\r\nTEL:+49 151 1234567\r\nEND:VCARD\r\n\
                    BEGIN:VCARD\nVERSION:4.0\nFN:Cee\nitem1.EMAIL;TYPE=work:c@exam\n ple.org\nTEL;VALUE=uri:tel:+1-555-010-0999\nEND:VCARD\n";
        let ids = parse(text).unwrap();
        let got: Vec<(&str, &str)> = ids
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("Bee", "b@example.org"),
                ("Bee", "+491511234567"),
                ("Cee", "c@example.org"),
                ("Cee", "+15550100999")
            ]
        );
    }

    #[test]
    fn csv_with_quotes() {
        let text = "Name,E-mail Address,Mobile Phone\n\"Doe, Jane\",jane@example.org,\n Joe ,not-an-email,\"+44 20 7946 0000\"\n";
        let ids = parse(text).unwrap();
        assert_eq!(ids.len(), 2);
        assert_eq!(
            ids[0],
            ContactId {
                name: "Doe, Jane".into(),
                kind: IdentifierKind::Email,
                value: "jane@example.org".into()
            }
        );
        assert_eq!(ids[1].value, "+442079460000");
    }

    #[test]
    fn unknown_formats_are_refused() {
        assert_eq!(
            parse("just some text\nmore"),
            Err(ContactsError::UnknownFormat)
        );
        assert_eq!(parse(""), Err(ContactsError::UnknownFormat));
    }
}
