//! Who may append what: the admin appends any valid entry; a robot account
//! appends only evledger attestations for its workflow, and every evledger
//! attestation must meet the contract revision it names (checked here, on
//! the server, before the append).

use axum::http::StatusCode;
use evledger_evidence::attestation::{check, Predicate, PREDICATE_TYPE};
use evledger_evidence::Contract;
use evledger_ledger::entry::{Entry, EntryBody};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

/// Refuses `entry` from `caller` unless it may be appended: 403 for a
/// robot pushing anything but its workflow's attestations, 422 listing
/// every unmet requirement of the contract.
pub(crate) async fn enforce(
    state: &AppState,
    caller: &Caller,
    entry: &Entry,
) -> Result<(), ApiError> {
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
            Caller::Admin => Ok(()),
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
            .store()
            .revision(&workflow, Some(predicate.contract_revision))?
            .ok_or_else(|| {
                ApiError::contract_unmet(vec![format!(
                    "workflow {workflow:?} has no contract revision {}",
                    predicate.contract_revision
                )])
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
            Ok(())
        } else {
            Err(ApiError::contract_unmet(unmet))
        }
    })
    .await
}
