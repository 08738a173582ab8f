//! `kith profile …` and `kith link …`.

use super::{Client, LinkCommand, ProfileCommand, commands::print_json};
use crate::{
    api::{
        FieldRequest, LinkRequest, LinksJson, ProfileJson, SetFieldRequest, SetFieldResponse,
        StatementJson,
    },
    home::Home,
};

fn with_account(path: &str, account: Option<&str>) -> String {
    match account {
        Some(a) => format!("{path}?account={}", a.trim()),
        None => path.to_string(),
    }
}

pub(super) async fn profile(
    home: &Home,
    json: bool,
    command: ProfileCommand,
) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    match command {
        ProfileCommand::Set {
            field,
            value,
            visibility,
        } => {
            let request = SetFieldRequest {
                field,
                value,
                visibility: Some(visibility),
            };
            let answer: SetFieldResponse = client.post(home, "/profile/set", &request).await?;
            if json {
                return print_json(&answer);
            }
            say!("{} set ({})", answer.field, answer.visibility);
        }
        ProfileCommand::Unset { field } => {
            let answer: FieldRequest = client
                .post(home, "/profile/unset", &FieldRequest { field })
                .await?;
            if json {
                return print_json(&answer);
            }
            say!("{} removed", answer.field);
        }
        ProfileCommand::Show { account } => {
            let path = with_account("/profile", account.as_deref());
            let profile: ProfileJson = client.get(home, &path).await?;
            if json {
                return print_json(&profile);
            }
            say!("account  {}", profile.account);
            for (name, field) in &profile.fields {
                say!("{name}  {}  ({})", field.value, field.visibility);
            }
        }
    }
    Ok(())
}

pub(super) async fn link(home: &Home, json: bool, command: LinkCommand) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    let links: LinksJson = match command {
        LinkCommand::Add {
            platform,
            handle,
            proof,
        } => {
            client
                .post(
                    home,
                    "/links/add",
                    &LinkRequest {
                        platform,
                        handle,
                        proof,
                    },
                )
                .await?
        }
        LinkCommand::Remove { platform, handle } => {
            client
                .post(
                    home,
                    "/links/remove",
                    &LinkRequest {
                        platform,
                        handle,
                        proof: None,
                    },
                )
                .await?
        }
        LinkCommand::List { account } => {
            client
                .get(home, &with_account("/links", account.as_deref()))
                .await?
        }
        LinkCommand::Proof { platform, handle } => {
            let url = reqwest::Url::parse_with_params(
                "http://kith.invalid/links/statement",
                [("platform", &platform), ("handle", &handle)],
            )?;
            let path = format!("/links/statement?{}", url.query().unwrap_or_default());
            let answer: StatementJson = client.get(home, &path).await?;
            if json {
                return print_json(&answer);
            }
            say!(
                "Post this on {platform} as {handle}, then: kith link add {platform} {handle} --proof URL"
            );
            say!("{}", answer.statement);
            return Ok(());
        }
    };
    if json {
        return print_json(&links);
    }
    for l in &links.links {
        let proof = l.proof.as_deref().unwrap_or("no proof");
        let verified = if l.verified { "verified" } else { "unverified" };
        say!("{}  {}  {proof}  {verified}", l.platform, l.handle);
    }
    Ok(())
}
