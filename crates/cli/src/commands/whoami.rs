//! `rack-gateway whoami`: who the gateway thinks the caller is (user session or API token).

use anyhow::Result;
use clap::Args;
use serde_json::Value;

use crate::api::WhoAmI;
use crate::context::{Ctx, Source};
use crate::error::CliError;
use crate::output::or_dash;

/// Arguments of `whoami`.
#[derive(Debug, Args)]
pub struct WhoamiArgs {}

/// Runs `whoami`.
pub async fn run(ctx: &Ctx, _args: WhoamiArgs) -> Result<()> {
    let target = ctx.target()?;
    let mut raw: Value = target.client.get("/api/v1/auth/whoami").await?;
    // Web-only; meaningless for a bearer session.
    if let Some(obj) = raw.as_object_mut() {
        obj.remove("csrf_token");
    }
    let rack = match &target.source {
        Source::Saved(r) => Some(r.clone()),
        Source::Env => None,
    };
    if ctx.json() {
        let mut out = raw;
        if let Some(obj) = out.as_object_mut() {
            obj.insert("rack".into(), rack.map_or(Value::Null, Value::String));
            obj.insert("url".into(), Value::String(target.url.clone()));
        }
        crate::output::print_json(&out);
        return Ok(());
    }
    let me: WhoAmI = serde_json::from_value(raw).map_err(|e| {
        CliError::new(
            "invalid_response",
            format!("unexpected answer from the gateway: {e}"),
        )
    })?;
    let via = match &rack {
        Some(r) => format!("rack {r}"),
        None => "RACK_GATEWAY_API_TOKEN".to_owned(),
    };
    println!("gateway:     {} ({via})", target.url);
    if me.kind == "token" {
        println!("api token:   {}", or_dash(me.name.as_deref()));
        println!("token id:    {}", or_dash(me.token_public_id.as_deref()));
        println!("owner:       {}", or_dash(me.owner_email.as_deref()));
    } else {
        println!("user:        {}", or_dash(me.email.as_deref()));
    }
    match &me.role {
        Some(r) => println!("role:        {r}"),
        None => println!("permissions: {}", me.permissions.join(", ")),
    }
    if let Some(s) = &me.session {
        let field = |k: &str| s.get(k).and_then(Value::as_str);
        println!(
            "session:     {}, expires {}",
            or_dash(field("channel")),
            or_dash(field("expires_at"))
        );
        let mfa = match (me.mfa_enrolled, field("mfa_verified_at")) {
            (false, _) => "not enrolled".to_owned(),
            (true, Some(at)) => format!("verified at {at}"),
            (true, None) => "enrolled, not verified for this session".to_owned(),
        };
        println!("mfa:         {mfa}");
    }
    Ok(())
}
