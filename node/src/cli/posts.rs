//! `kith post …`, `kith feed …`, `kith bridge …`.

use anyhow::{Context as _, bail};

use super::{BridgeCommand, Client, PostAction, PostArgs, commands::print_json};
use crate::{
    api::{
        BridgeAddRequest, BridgeNameRequest, BridgesJson, FeedJson, PostRequest, PostResponse,
        PostStatusJson,
    },
    home::Home,
};

pub(super) async fn post(home: &Home, json: bool, args: PostArgs) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    if let Some(PostAction::Status { post }) = args.action {
        let status: PostStatusJson = client
            .get(home, &format!("/posts/status?post={}", post.trim()))
            .await?;
        if json {
            return print_json(&status);
        }
        if status.deliveries.is_empty() {
            say!("{}: no bridge deliveries", status.post);
        }
        for d in &status.deliveries {
            let detail = d
                .url
                .clone()
                .or_else(|| d.error.clone())
                .unwrap_or_default();
            say!(
                "{}  {}  attempts {}  {detail}",
                d.bridge,
                d.state,
                d.attempts
            );
        }
        return Ok(());
    }
    let Some(text) = args.text else {
        bail!("nothing to post: kith post TEXT")
    };
    let bridges = (!args.bridges.is_empty()).then_some(args.bridges);
    let request = PostRequest {
        text,
        visibility: Some(args.visibility),
        bridges,
    };
    let answer: PostResponse = client.post(home, "/posts", &request).await?;
    if json {
        return print_json(&answer);
    }
    say!("posted {}", answer.post);
    Ok(())
}

pub(super) async fn feed(
    home: &Home,
    json: bool,
    account: Option<String>,
    all: bool,
    limit: usize,
) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    let mut path = format!("/feed?limit={limit}&all={all}");
    if let Some(a) = account {
        path.push_str(&format!("&account={}", a.trim()));
    }
    let feed: FeedJson = client.get(home, &path).await?;
    if json {
        return print_json(&feed);
    }
    for p in &feed.posts {
        say!("{}  {}  ({})\n  {}", p.at, p.account, p.visibility, p.text);
    }
    Ok(())
}

pub(super) async fn bridge(home: &Home, json: bool, command: BridgeCommand) -> anyhow::Result<()> {
    let client = Client::for_home(home)?;
    let bridges: BridgesJson = match command {
        BridgeCommand::Add {
            name,
            plugin,
            settings,
        } => {
            let mut map = std::collections::BTreeMap::new();
            for pair in settings {
                let (k, v) = pair
                    .split_once('=')
                    .with_context(|| format!("`{pair}` is not KEY=VALUE"))?;
                map.insert(k.trim().to_string(), v.to_string());
            }
            client
                .post(
                    home,
                    "/bridges/add",
                    &BridgeAddRequest {
                        name,
                        plugin,
                        settings: map,
                    },
                )
                .await?
        }
        BridgeCommand::Remove { name } => {
            client
                .post(home, "/bridges/remove", &BridgeNameRequest { name })
                .await?
        }
        BridgeCommand::List => client.get(home, "/bridges").await?,
        BridgeCommand::Test { name } => {
            client
                .post(home, "/bridges/test", &BridgeNameRequest { name })
                .await?
        }
    };
    if json {
        return print_json(&bridges);
    }
    for b in &bridges.bridges {
        say!(
            "{}  {}  {}  [{}]",
            b.name,
            b.plugin,
            b.state,
            b.capabilities.join(", ")
        );
    }
    Ok(())
}
