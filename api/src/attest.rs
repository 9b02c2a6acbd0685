//! Who may append what: the admin appends any valid entry; a robot account
//! appends only evledger attestations for its workflow, and every evledger
//! attestation must name the latest contract revision of its workflow and
//! meet it (checked here, on the server, before the append). An
//! attestation naming an older revision is refused (422
//! `contract_outdated`): an admin who tightens a contract tightens it for
//! every push from then on.
//!
//! The append itself goes through the push gate
//! ([`evledger_evidence::Evidence::append_gated`]), which checks again, at
//! the moment of the append, that the robot account is live and the
//! revision still the latest.

use axum::http::StatusCode;
use evledger_evidence::attestation::{check, Predicate, PREDICATE_TYPE};
use evledger_evidence::{Contract, EvidenceError, PushCheck};
use evledger_ledger::entry::{Entry, EntryBody};
use evledger_ledger::Appended;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Appends `entry` from `caller` if it may be appended (see [`enforce`]),
/// through the push gate: 401 if the robot account is revoked by then, 422
/// `contract_outdated` if the contract got a new revision by then.
pub(crate) async fn append(
    state: &AppState,
    caller: &Caller,
    entry: Entry,
) -> Result<Appended, ApiError> {
    let check = enforce(state, caller, &entry).await?;
    Ok(state.evidence().append_gated(check, entry.leaf).await?)
}

/// Refuses `entry` from `caller` unless it may be appended: 403 for a
/// robot pushing anything but its workflow's attestations, 422
/// `contract_outdated` for an attestation naming an older revision than
/// the latest, 422 `contract_unmet` listing every unmet requirement of the
/// contract. Returns what the push gate must check again at the append.
async fn enforce(state: &AppState, caller: &Caller, entry: &Entry) -> Result<PushCheck, ApiError> {
    let robot = match caller {
        Caller::Admin => None,
        Caller::Robot(robot) => Some(robot.id.clone()),
    };
    let statement = match &entry.body {
        EntryBody::Dsse(dsse) => dsse.statement.clone(),
        EntryBody::Contract(_) => None,
    };
    let predicate = statement
        .as_ref()
        .map(Predicate::of)
        .transpose()
        .map_err(|e| ApiError::bad_request(e).with_code("bad_predicate"))?
        .flatten();
    let (Some(statement), Some(predicate)) = (statement, predicate) else {
        return match caller {
            Caller::Admin => Ok(PushCheck {
                robot,
                contract: None,
            }),
            Caller::Robot(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "robot accounts push in-toto attestations with predicateType {PREDICATE_TYPE}"
                ),
            )),
        };
    };
    let workflow = match caller {
        Caller::Robot(robot) => robot.workflow.clone(),
        Caller::Admin => predicate.workflow.name.clone(),
    };
    let evidence = state.evidence().clone();
    crate::blocking(move || {
        let record = evidence.workflow(&workflow)?;
        let revision = evidence
            .enforced_revision(&workflow, predicate.contract_revision)
            .map_err(|e| match e {
                EvidenceError::NotFound(m) => ApiError::contract_unmet(vec![m]),
                other => other.into(),
            })?;
        let contract: Contract = serde_json::from_value(revision.contract)
            .map_err(|e| ApiError::internal(e.to_string()))?;
        let mut unmet = Vec::new();
        if predicate.workflow.project != record.project {
            unmet.push(format!(
                "workflow {workflow:?} is in project {:?}, not {:?}",
                record.project, predicate.workflow.project
            ));
        }
        unmet.extend(check(
            &contract,
            &workflow,
            &statement,
            &predicate,
            evidence.cas(),
        ));
        if unmet.is_empty() {
            Ok(PushCheck {
                robot,
                contract: Some((workflow, revision.revision)),
            })
        } else {
            Err(ApiError::contract_unmet(unmet))
        }
    })
    .await
}
