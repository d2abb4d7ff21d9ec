//! The steps at the end of the chain: promote (re-checked against the release on the rack) and
//! one-off processes on the approved release.

use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode, header};
use rgw_core::approval::{ChainStep, DeployDenial, normalize_command};
use rgw_core::{ReleaseId, RouteMatch};
use rgw_store::ClaimExpect;
use serde_json::{Value, json};

use super::bind::{Bound, approved, live, refuse_with_newest};
use super::manifest;
use super::steps::{
    Forwarded, claim, collect, commands, ensure_release, forward, header, id_field, only_in_body,
    rack_json, release,
};
use super::{Ctx, GateError, GateTrail};
use crate::audit::{AuditEvent, Outcome};

/// The live approved requests, each with the release its completed build produced recorded
/// (promote and one-off processes both bind by release).
async fn approved_with_releases(ctx: &Ctx<'_>) -> Result<Vec<Bound>, GateError> {
    let mut live = approved(live(ctx).await?);
    for b in &mut live {
        ensure_release(ctx, b).await?;
    }
    Ok(live)
}

/// `POST releases/{id}/promote`: the approved build's release only; re-checked on the rack.
pub(super) async fn promote(
    ctx: &Ctx<'_>,
    matched: &RouteMatch,
    req: Request<Body>,
    trail: &mut GateTrail,
) -> Forwarded {
    let release_id = matched
        .release_id()
        .ok_or_else(|| GateError::failed(StatusCode::BAD_REQUEST, "the release id is missing"))?;
    let step = ChainStep::ReleasePromote {
        app: ctx.app,
        release: release_id,
    };
    let live = approved_with_releases(ctx).await?;
    let Some(bound) = live.iter().find(|b| b.release.as_ref() == Some(release_id)) else {
        return Err(refuse_with_newest(ctx, &live, &step, &[], None).await);
    };
    trail.approval = Some(bound.row.public_id);
    bound.check(ctx, &step, &[], false)?;
    let claim = claim(
        ctx,
        bound,
        ClaimExpect::Promote {
            release: release_id.as_str(),
        },
    )
    .await?;
    if let Err(e) = recheck_release(ctx, bound, release_id).await {
        release(ctx, &claim).await;
        return Err(e);
    }
    match forward(ctx, req).await {
        Ok((resp, status)) if status.is_success() => {
            let now = ctx.state.clock.now();
            // The deployed state, its audit event and its notification jobs commit together.
            let mut tx = ctx.state.store.begin().await?;
            if !tx.confirm_deployed(&claim, now).await? {
                tx.rollback().await?;
                return Err(promote_unrecorded(bound, release_id));
            }
            crate::jobs::transition::enqueue(
                &mut tx,
                ctx.state,
                &bound.row,
                crate::jobs::transition::Transition::Deployed,
                now,
            )
            .await?;
            let mut ev = AuditEvent::new(
                now,
                ctx.principal.audit_actor(),
                "deploy_approval.deploy",
                Outcome::Success,
            )
            .resource(bound.row.public_id.to_string())
            .app(ctx.app.to_string())
            .details(json!({
                "git_commit_hash": bound.row.git_commit_hash,
                "build_id": bound.row.build_id,
                "release_id": release_id.as_str(),
                "promote_allowed_at": rgw_core::wire::rfc3339(claim.at),
            }));
            ev.deploy_approval_request_id = Some(bound.row.public_id);
            let logged = ctx
                .state
                .auditor
                .append_in_tx(&mut tx, ev)
                .await
                .map_err(crate::error::ApiError::from)?;
            tx.commit().await?;
            logged.log();
            crate::approvals::notify(ctx.state, bound.row.public_id);
            Ok((resp, status))
        }
        other => {
            release(ctx, &claim).await;
            other
        }
    }
}

/// The rack promoted, but the claim was gone when the gateway came to record it (abandoned
/// for longer than `STALE_CLAIM` and taken over or expired): say what is live, since the
/// proxy's audit event for the call is all that records it.
fn promote_unrecorded(bound: &Bound, release: &ReleaseId) -> GateError {
    GateError::failed(
        StatusCode::CONFLICT,
        format!(
            "the rack promoted release {release}, but deploy approval {} ended while the promote was in flight, so the deploy is not recorded against it; check the rack and roll back if it should not be live",
            bound.id
        ),
    )
}

/// The release on the rack must still come from the approved build, and its manifest (the
/// exact text that will run) must pass the image rules.
async fn recheck_release(
    ctx: &Ctx<'_>,
    bound: &Bound,
    release_id: &ReleaseId,
) -> Result<(), GateError> {
    let rel = rack_json(ctx, &format!("/apps/{}/releases/{release_id}", ctx.app)).await?;
    let build = rel.get("build").and_then(Value::as_str).unwrap_or_default();
    if Some(build) != bound.row.build_id.as_deref() {
        return Err(DeployDenial::DifferentArtefact {
            id: bound.id,
            step: rgw_core::approval::Step::Promote,
            recorded: format!(
                "build {}",
                bound.row.build_id.as_deref().unwrap_or("(none)")
            ),
            attempted: format!("release {release_id} of build {build}"),
        }
        .into());
    }
    if let Some(patterns) = manifest::patterns(ctx).await? {
        let text = rel
            .get("manifest")
            .and_then(Value::as_str)
            .unwrap_or_default();
        manifest::check_text(bound, text, &patterns, &bound.commit)?;
    }
    Ok(())
}

/// `POST services/{service}/processes`: on the approved release, allow-listed commands only.
pub(super) async fn run(ctx: &Ctx<'_>, req: Request<Body>, trail: &mut GateTrail) -> Forwarded {
    // The command and release travel as headers; a query string or a body could carry other
    // values the rack might read instead.
    only_in_body(req.uri(), &HeaderMap::new(), "a one-off process", &[])?;
    let has_body = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v != "0")
        || req.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body {
        return Err(GateError::failed(
            StatusCode::BAD_REQUEST,
            "a one-off process under a deploy approval takes no body; send Command and Release as headers",
        ));
    }
    let release_hdr = header(req.headers(), "release").map(str::to_owned);
    let command = header(req.headers(), "command")
        .unwrap_or_default()
        .to_owned();
    let commands = commands(ctx).await?;
    let step = ChainStep::ProcessRun {
        app: ctx.app,
        release: release_hdr.as_deref(),
        command: Some(&command),
    };
    let live = approved_with_releases(ctx).await?;
    let Some(bound) = live.iter().find(|b| {
        b.release.as_ref().map(ReleaseId::as_str) == release_hdr.as_deref() && release_hdr.is_some()
    }) else {
        return Err(refuse_with_newest(ctx, &live, &step, &commands, None).await);
    };
    trail.approval = Some(bound.row.public_id);
    bound.check(ctx, &step, &commands, false)?;
    let (resp, status) = forward(ctx, req).await?;
    if !status.is_success() {
        return Ok((resp, status));
    }
    let (head, answer) = collect(resp).await?;
    if let Some(pid) = id_field(&answer) {
        ctx.state
            .store
            .record_process(
                bound.row.id,
                &pid,
                &normalize_command(&command),
                ctx.state.clock.now(),
            )
            .await?;
    }
    Ok((Response::from_parts(head, Body::from(answer)), status))
}
