//! Admission: who may append what, decided on the server before the
//! append and checked again at it.
//!
//! The admin (and an anonymous caller, where the operator opened Rekor v2
//! writes to everyone) appends any valid entry; a robot account appends only
//! evledger attestations for its own workflow, and every evledger
//! attestation must name the latest contract revision of its workflow and
//! meet it. An attestation naming an older revision is refused
//! ([`EvidenceError::ContractOutdated`]): an admin who tightens a contract
//! tightens it for every push from then on. The append itself goes through
//! the push gate ([`Evidence::append_gated`]), which checks again, at the
//! moment of the append, that the robot account is live and the revision
//! still the latest.

use std::sync::Arc;

use evledger_ledger::entry::{Entry, EntryBody};
use evledger_ledger::Appended;

use crate::attestation::{check, Predicate, PREDICATE_TYPE};
use crate::store::RobotAccount;
use crate::{Contract, Evidence, EvidenceError, PushCheck};

/// Who pushes an entry.
#[derive(Debug, Clone)]
pub enum Pusher {
    /// The operator: may append any valid entry.
    Admin,
    /// A robot account: may append its workflow's attestations only.
    Robot(RobotAccount),
    /// A caller without a token, where the operator opened writes to
    /// everyone (Rekor v2's API for Sigstore clients): may append any valid
    /// entry, and an evledger attestation only if it meets its contract.
    Anonymous,
}

impl Evidence {
    /// Appends `entry` from `pusher` if it may be appended, through the
    /// push gate, and returns the ledger's answer.
    ///
    /// # Errors
    ///
    /// [`EvidenceError::Forbidden`] for a robot pushing anything but its
    /// workflow's attestations; [`EvidenceError::BadPredicate`];
    /// [`EvidenceError::ContractOutdated`] for an attestation naming an
    /// older revision than the latest (at the check or, through the gate,
    /// at the append); [`EvidenceError::ContractUnmet`] listing every
    /// unmet requirement; [`EvidenceError::Revoked`] if the robot account
    /// was revoked by the time of the append; log errors.
    pub async fn admit(
        self: &Arc<Self>,
        pusher: &Pusher,
        entry: Entry,
    ) -> Result<Appended, EvidenceError> {
        let check = self.clone().enforce(pusher, &entry).await?;
        self.append_gated(check, entry.leaf).await
    }

    /// Refuses `entry` from `pusher` unless it may be appended; returns
    /// what the push gate must check again at the append.
    async fn enforce(
        self: Arc<Self>,
        pusher: &Pusher,
        entry: &Entry,
    ) -> Result<PushCheck, EvidenceError> {
        let robot = match pusher {
            Pusher::Admin | Pusher::Anonymous => None,
            Pusher::Robot(robot) => Some(robot.id.clone()),
        };
        let statement = match &entry.body {
            EntryBody::Dsse(dsse) => dsse.statement.clone(),
            EntryBody::Rekor(rekor) => rekor.statement.clone(),
            EntryBody::Contract(_) => None,
        };
        let predicate = statement
            .as_ref()
            .map(Predicate::of)
            .transpose()
            .map_err(|e| EvidenceError::BadPredicate(e.to_string()))?
            .flatten();
        let (Some(statement), Some(predicate)) = (statement, predicate) else {
            return match pusher {
                Pusher::Admin | Pusher::Anonymous => Ok(PushCheck {
                    robot,
                    contract: None,
                }),
                Pusher::Robot(_) => Err(EvidenceError::Forbidden(format!(
                    "robot accounts push in-toto attestations with predicateType {PREDICATE_TYPE}"
                ))),
            };
        };
        let workflow = match pusher {
            Pusher::Robot(robot) => robot.workflow.clone(),
            Pusher::Admin | Pusher::Anonymous => predicate.workflow.name.clone(),
        };
        crate::off_worker(move || {
            let record = self.workflow(&workflow)?;
            let revision = self
                .enforced_revision(&workflow, predicate.contract_revision)
                .map_err(|e| match e {
                    EvidenceError::NotFound(m) => EvidenceError::ContractUnmet(vec![m]),
                    other => other,
                })?;
            let contract: Contract = serde_json::from_value(revision.contract)
                .map_err(|e| EvidenceError::Storage(e.to_string()))?;
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
                self.cas(),
            ));
            if unmet.is_empty() {
                Ok(PushCheck {
                    robot,
                    contract: Some((workflow, revision.revision)),
                })
            } else {
                Err(EvidenceError::ContractUnmet(unmet))
            }
        })
        .await
    }
}
