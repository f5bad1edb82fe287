//! What the read commands print as text (their `--json` prints the daemon's answer, or for
//! `certificates` the same facts as here).

use super::{Fail, print_json, say};
use anyhow::anyhow;
use mcc_core::cert::Certificate;
use mcc_std::control::NodeRow;
use mcc_std::{clock, config, store};
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;

/// `mcc route`: one hop a line; when the rest is the parent's, the destination last,
/// marked "via parent".
pub(crate) fn route(out: &mut impl Write, v: &Value) -> Result<(), Fail> {
    let hops: Vec<&str> = v["hops"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|h| h.as_str())
        .collect();
    for h in &hops {
        say!(out, "{h}");
    }
    if v["via_parent"].as_bool() == Some(true) {
        say!(
            out,
            "{}  (via parent {}: the hops past it are known only above this node)",
            v["destination"].as_str().unwrap_or_default(),
            hops.last().copied().unwrap_or_default()
        );
    }
    Ok(())
}

pub(crate) fn table(out: &mut impl Write, rows: &[NodeRow]) -> Result<(), Fail> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["NODE_ID", "ADDRESS", "LAST_SEEN", "PARENT", "TAGS", "TYPE"]);
    for r in rows {
        t.add_row([
            &r.node_id,
            &r.address,
            &r.last_seen,
            &r.parent,
            &r.tags,
            &r.kind,
        ]);
    }
    // Line by line: a reader that stops early (| head -1) ends the output there.
    for line in t.lines() {
        say!(out, "{}", line.trim_end());
    }
    Ok(())
}

pub(crate) fn graphviz(out: &mut impl Write, rows: &[NodeRow]) -> Result<(), Fail> {
    say!(out, "digraph mcc {{");
    for r in rows {
        let short = r.node_id.get(..8).unwrap_or(&r.node_id);
        let label = if r.tags.is_empty() {
            short.to_string()
        } else {
            format!("{short}\\n{}", r.tags)
        };
        say!(out, "  \"{}\" [label=\"{label}\"];", r.node_id);
        if !r.parent.is_empty() {
            say!(out, "  \"{}\" -> \"{}\";", r.node_id, r.parent);
        }
    }
    say!(out, "}}");
    Ok(())
}

/// A tunnel of the `status` answer: its side, state and path, as words.
fn tunnel_facts(t: &Value) -> (&'static str, &'static str, &str) {
    let side = if t["server_side"].as_bool() == Some(true) {
        "server"
    } else {
        "client"
    };
    let state = if t["established"].as_bool() == Some(true) {
        "established"
    } else {
        "not established"
    };
    (side, state, t["path"].as_str().unwrap_or("tree"))
}

/// `mcc tunnels`: one row per tunnel of the `status` answer.
pub(crate) fn tunnels(out: &mut impl Write, v: &Value) -> Result<(), Fail> {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::NOTHING);
    t.set_header(["REMOTE_ENDPOINT", "SIDE", "STATE", "PATH"]);
    for r in v["tunnels"].as_array().into_iter().flatten() {
        let (side, state, path) = tunnel_facts(r);
        t.add_row([
            r["remote_endpoint"].as_str().unwrap_or("-"),
            side,
            state,
            path,
        ]);
    }
    for line in t.lines() {
        say!(out, "{}", line.trim_end());
    }
    Ok(())
}

/// `mcc status`: the node, its parent and links, its tunnels, its counters.
pub(crate) fn status(out: &mut impl Write, v: &Value) -> Result<(), Fail> {
    let s = |k: &str| v[k].as_str().unwrap_or("-").to_string();
    say!(out, "node             {}", s("id"));
    say!(out, "address          {}", s("address"));
    let parent = match (v["parent"].as_str(), v["parent_index"].as_u64()) {
        (Some(p), Some(i)) => format!("{p} (parents entry {})", i + 1),
        (Some(p), None) => p.to_string(),
        (None, _) => "none".into(),
    };
    say!(out, "parent           {parent}");
    if let Some(g) = v["gateway"].as_str() {
        let up = if v["gateway_up"].as_bool() == Some(true) {
            "up"
        } else {
            "not up (made when traffic needs it)"
        };
        say!(out, "gateway          {g} ({up})");
    }
    say!(out, "peers            {}", v["peers"]);
    say!(out, "known nodes      {}", v["known_nodes"]);
    say!(out, "forwarded        {}", v["forwarded"]);
    say!(out, "dropped (filter) {}", v["drop_filtered"]);
    say!(out, "config           {}", s("config_dir"));
    let tunnels = v["tunnels"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    say!(out, "tunnels          {}", tunnels.len());
    for t in tunnels {
        let (side, state, path) = tunnel_facts(t);
        say!(
            out,
            "  {}  {side}  {state}  {path}",
            t["remote_endpoint"].as_str().unwrap_or("-")
        );
    }
    Ok(())
}

/// `mcc events`: one event a line, time first.
pub(crate) fn events(out: &mut impl Write, v: &Value) -> Result<(), Fail> {
    for e in v.as_array().into_iter().flatten() {
        say!(
            out,
            "{}  {}",
            e["time"].as_str().unwrap_or_default(),
            e["event"].as_str().unwrap_or_default()
        );
    }
    Ok(())
}

/// A certificate file's facts, or why it could not be read.
fn cert_json(path: &Path) -> Value {
    match store::read_certificate(path) {
        Ok(c) => describe(path, &c),
        Err(e) => json!({ "path": path, "error": e.to_string() }),
    }
}

fn describe(path: &Path, c: &Certificate) -> Value {
    let b = &c.body;
    let mut v = json!({
        "path": path,
        "kind": format!("{:?}", b.kind).to_lowercase(),
        "subject": b.subject.to_string(),
        "issuer": b.issuer.to_string(),
        "name": b.name,
        "not_before": clock::rfc3339(b.not_before),
        "not_after": clock::rfc3339(b.not_after),
        "bytes": c.encoded().len(),
    });
    if let Some(t) = c.tunnel() {
        v["server_node"] = json!(t.server_node.to_string());
        v["client_node"] = json!(t.client_node.to_string());
        v["client_endpoint"] = json!(t.client_endpoint.to_string());
        v["targets"] = json!(t.targets.iter().map(|t| t.to_string()).collect::<Vec<_>>());
        v["dns_names"] = json!(t.dns_names);
    }
    v
}

/// `mcc certificates FILE`: the node, network and tunnel certificates FILE names. A file
/// that cannot be read is shown with the reason and makes the exit code 2.
pub(crate) fn certificates(out: &mut impl Write, conf: &Path, json: bool) -> Result<(), Fail> {
    let cfg = config::load_file(conf).map_err(|e| Fail::Usage(e.into()))?;
    let tunnels = config::load_tunnels(&cfg.tunnels).map_err(|e| Fail::Usage(e.into()))?;
    let node = cert_json(&cfg.node_certificate);
    let networks: Vec<Value> = cfg
        .network_certificates
        .iter()
        .map(|p| cert_json(p))
        .collect();
    let tunnels: Vec<Value> = tunnels.iter().map(|t| cert_json(&t.certificate)).collect();
    let all = json!({
        "config": conf,
        "node_certificate": node,
        "network_certificates": networks,
        "tunnel_certificates": tunnels,
    });
    if json {
        print_json(out, &all)?;
    } else {
        let mut show = |what: &str, v: &Value| -> Result<(), Fail> {
            let path = v["path"].as_str().unwrap_or_default();
            if let Some(e) = v["error"].as_str() {
                say!(out, "{what}: {e}");
                return Ok(());
            }
            say!(out, "{what}: {path}");
            say!(
                out,
                "  kind {}, subject {}, issuer {}, name {:?}, valid {} .. {}, {} bytes",
                v["kind"].as_str().unwrap_or_default(),
                v["subject"].as_str().unwrap_or_default(),
                v["issuer"].as_str().unwrap_or_default(),
                v["name"].as_str().unwrap_or_default(),
                v["not_before"].as_str().unwrap_or_default(),
                v["not_after"].as_str().unwrap_or_default(),
                v["bytes"]
            );
            if let Some(server) = v["server_node"].as_str() {
                let targets: Vec<&str> = v["targets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| t.as_str())
                    .collect();
                say!(
                    out,
                    "  server node {server}, client node {}, targets {}",
                    v["client_node"].as_str().unwrap_or_default(),
                    targets.join(",")
                );
            }
            Ok(())
        };
        show("node certificate", &all["node_certificate"])?;
        for v in all["network_certificates"].as_array().into_iter().flatten() {
            show("network certificate", v)?;
        }
        for v in all["tunnel_certificates"].as_array().into_iter().flatten() {
            show("tunnel certificate", v)?;
        }
    }
    let failed = std::iter::once(&all["node_certificate"])
        .chain(all["network_certificates"].as_array().into_iter().flatten())
        .chain(all["tunnel_certificates"].as_array().into_iter().flatten())
        .filter(|v| v.get("error").is_some())
        .count();
    if failed > 0 {
        return Err(Fail::Usage(anyhow!(
            "{failed} certificate file(s) of {} could not be read",
            conf.display()
        )));
    }
    Ok(())
}
