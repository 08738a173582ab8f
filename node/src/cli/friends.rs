//! `kith friend …`, `kith contacts …`, `kith discoverable …`.

use std::time::Duration;

use anyhow::Context as _;

use super::{
    Client, ContactsCommand, DiscoverableCommand, FriendCommand, commands::print_json, qr,
};
use crate::{
    api::{
        AccountRequest, AddRequest, FriendsJson, IdentifierJson, IdentifiersJson, ImportRequest,
        ImportResponse, InviteRequest, InviteResponse, OutcomeJson, RequestsJson, SuggestionsJson,
    },
    contacts::MAX_CONTACTS_FILE_BYTES,
    home::Home,
};

/// `10m`, `24h`, `7d`, `30s`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 10m, 24h or 7d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("unknown unit `{unit}` (use s, m, h or d)")),
    };
    n.checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}` is too long"))
}

pub(super) async fn friend(home: &Home, json: bool, command: FriendCommand) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    match command {
        FriendCommand::Invite {
            qr: show_qr,
            png,
            svg,
            ttl,
        } => {
            let request = InviteRequest {
                ttl_secs: ttl.map(|d| d.as_secs()),
            };
            let invite: InviteResponse = client.post(home, "/friends/invite", &request).await?;
            if let Some(path) = &png {
                qr::write_png(&invite.ticket, path)?;
            }
            if let Some(path) = &svg {
                qr::write_svg(&invite.ticket, path)?;
            }
            if json {
                return print_json(&invite);
            }
            if show_qr {
                say!("{}", qr::terminal(&invite.ticket)?);
            }
            say!("{}", invite.ticket);
            Ok(())
        }
        FriendCommand::Add { target, message } => {
            let request = AddRequest {
                target,
                message: message.unwrap_or_default(),
            };
            let outcome: OutcomeJson = client.post(home, "/friends/add", &request).await?;
            print_outcome(json, &outcome)
        }
        FriendCommand::Accept { account } => act(home, &client, json, "accept", account).await,
        FriendCommand::Decline { account } => act(home, &client, json, "decline", account).await,
        FriendCommand::Remove { account } => act(home, &client, json, "remove", account).await,
        FriendCommand::Block { account } => act(home, &client, json, "block", account).await,
        FriendCommand::Requests => {
            let requests: RequestsJson = client.get(home, "/friends/requests").await?;
            if json {
                return print_json(&requests);
            }
            for (label, list) in [
                ("incoming", &requests.incoming),
                ("outgoing", &requests.outgoing),
            ] {
                say!("{label}: {}", list.len());
                for r in list {
                    let note = if r.message.is_empty() {
                        String::new()
                    } else {
                        format!("  \"{}\"", r.message)
                    };
                    let error = r
                        .error
                        .as_deref()
                        .map(|e| format!("  (last error: {e})"))
                        .unwrap_or_default();
                    say!("  {}  {}  {}{note}{error}", r.account, r.state, r.name);
                }
            }
            Ok(())
        }
        FriendCommand::List => {
            let friends: FriendsJson = client.get(home, "/friends").await?;
            if json {
                return print_json(&friends);
            }
            if friends.friends.is_empty() {
                say!("no friends yet (share a ticket: kith friend invite --qr)");
            }
            for f in &friends.friends {
                let online = if f.online { "online" } else { "offline" };
                say!("{}  {}  {online}", f.account, f.name);
            }
            Ok(())
        }
        FriendCommand::Suggest => {
            let suggestions: SuggestionsJson = client.get(home, "/friends/suggestions").await?;
            if json {
                return print_json(&suggestions);
            }
            if suggestions.suggestions.is_empty() {
                say!("no suggestions yet (import your address book: kith contacts import FILE)");
            }
            for s in &suggestions.suggestions {
                say!("{}  {}  {}", s.account, s.name, s.reason);
            }
            Ok(())
        }
    }
}

async fn act(
    home: &Home,
    client: &Client,
    json: bool,
    verb: &str,
    account: String,
) -> anyhow::Result<()> {
    let outcome: OutcomeJson = client
        .post(
            home,
            &format!("/friends/{verb}"),
            &AccountRequest { account },
        )
        .await?;
    print_outcome(json, &outcome)
}

fn print_outcome(json: bool, outcome: &OutcomeJson) -> anyhow::Result<()> {
    if json {
        return print_json(outcome);
    }
    say!("{}  {}", outcome.account, outcome.state);
    Ok(())
}

pub(super) async fn contacts(
    home: &Home,
    json: bool,
    command: ContactsCommand,
) -> anyhow::Result<()> {
    let ContactsCommand::Import { file } = command;
    let size = std::fs::metadata(&file)
        .with_context(|| format!("cannot read {}", file.display()))?
        .len();
    if size > MAX_CONTACTS_FILE_BYTES as u64 {
        anyhow::bail!(
            "{} is larger than {MAX_CONTACTS_FILE_BYTES} bytes",
            file.display()
        );
    }
    let content = std::fs::read_to_string(&file)
        .with_context(|| format!("cannot read {} as text", file.display()))?;
    let client = Client::for_home(home)?;
    let answer: ImportResponse = client
        .post(home, "/contacts/import", &ImportRequest { content })
        .await?;
    if json {
        return print_json(&answer);
    }
    say!("imported {} identifiers", answer.imported);
    Ok(())
}

pub(super) async fn discoverable(
    home: &Home,
    json: bool,
    command: DiscoverableCommand,
) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    let answer: IdentifiersJson = match command {
        DiscoverableCommand::Add { kind, value } => {
            client
                .post(home, "/discoverable/add", &IdentifierJson { kind, value })
                .await?
        }
        DiscoverableCommand::Remove { kind, value } => {
            client
                .post(
                    home,
                    "/discoverable/remove",
                    &IdentifierJson { kind, value },
                )
                .await?
        }
        DiscoverableCommand::List => client.get(home, "/discoverable").await?,
    };
    if json {
        return print_json(&answer);
    }
    for id in &answer.identifiers {
        say!("{}  {}", id.kind, id.value);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert!(parse_duration("ten").is_err());
        assert!(parse_duration("5w").is_err());
    }
}
