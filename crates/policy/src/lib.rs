//! Authorisation decisions. Plaza's policies are Cedar files in the
//! repository's `policies/` folder, compiled into every binary; each
//! service asks [`Policies::require`] in its own app layer before it does
//! anything, so a service reached directly is no weaker than one reached
//! through the gateway.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::{
    ActionConstraint, Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName,
    EntityUid, PolicySet, Request, RestrictedExpression,
};
use plaza_kernel::auth::Caller;
use plaza_kernel::error::{ErrorKind, PublicError};

/// The policy files, as shipped.
pub const SOURCES: &[(&str, &str)] = &[(
    "policies/plaza.cedar",
    include_str!("../../../policies/plaza.cedar"),
)];

/// What a decision is about.
#[derive(Debug, Clone, Default)]
pub struct Resource<'a> {
    /// The entity type, e.g. `Office` (becomes `Plaza::Office`).
    pub kind: &'a str,
    pub id: &'a str,
    /// The person the record is about ([`Caller::actor`] form).
    pub owner: Option<&'a str>,
    /// Codes that cover the record: its state (`PA`) and county (`PA/Dauphin`).
    pub jurisdictions: Vec<String>,
}

impl<'a> Resource<'a> {
    pub fn new(kind: &'a str, id: &'a str) -> Resource<'a> {
        Resource {
            kind,
            id,
            ..Resource::default()
        }
    }

    pub fn owned_by(mut self, owner: &'a str) -> Self {
        self.owner = Some(owner);
        self
    }

    /// In the given state and, when known, county.
    pub fn in_jurisdiction(mut self, state: &str, county: Option<&str>) -> Self {
        let state = state.trim().to_ascii_uppercase();
        if let Some(county) = county.map(str::trim).filter(|c| !c.is_empty()) {
            self.jurisdictions.push(format!("{state}/{county}"));
        }
        self.jurisdictions.push(state);
        self
    }
}

/// Why a policy file did not load.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct PolicyError {
    pub file: String,
    pub message: String,
}

/// The loaded policies.
#[derive(Clone)]
pub struct Policies {
    set: Arc<PolicySet>,
    /// For each action a policy names, the policies that could apply to it:
    /// those naming it and those naming no action. A decision evaluates
    /// only these; every other policy's scope rules it out before its
    /// conditions are read, so the answer is the same as the whole set's
    /// (the `in` of an action is equality here: requests carry no action
    /// hierarchy).
    by_action: Arc<HashMap<EntityUid, PolicySet>>,
    /// The policies naming no action: all that could apply to an action no
    /// policy names.
    any_action: Arc<PolicySet>,
    authorizer: Arc<Authorizer>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policies({} policies)", self.set.policies().count())
    }
}

fn type_name(kind: &str) -> EntityTypeName {
    EntityTypeName::from_str(&format!("Plaza::{kind}")).expect("Plaza entity types are valid names")
}

fn uid(kind: &str, id: &str) -> EntityUid {
    EntityUid::from_type_name_and_id(type_name(kind), EntityId::new(id))
}

impl Policies {
    /// The shipped policies.
    pub fn shipped() -> Policies {
        Policies::from_sources(SOURCES.iter().map(|(f, t)| (f.to_string(), t.to_string())))
            .expect("the shipped policies parse (checked by a test)")
    }

    /// Policies from `(file name, text)` pairs.
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Policies, PolicyError> {
        let mut all = String::new();
        let mut files = Vec::new();
        for (file, text) in sources {
            PolicySet::from_str(&text).map_err(|e| PolicyError {
                file: file.clone(),
                message: format!("{e:?}"),
            })?;
            all.push_str(&text);
            all.push('\n');
            files.push(file);
        }
        let set = PolicySet::from_str(&all).map_err(|e| PolicyError {
            file: files.join(", "),
            message: format!("{e:?}"),
        })?;
        let (by_action, any_action) = by_action(&set).map_err(|message| PolicyError {
            file: files.join(", "),
            message,
        })?;
        Ok(Policies {
            set: Arc::new(set),
            by_action: Arc::new(by_action),
            any_action: Arc::new(any_action),
            authorizer: Arc::new(Authorizer::new()),
        })
    }

    /// Is `caller` permitted `action` on `resource`, with the given context
    /// (string values only, e.g. `purpose`)?
    pub fn is_permitted(
        &self,
        caller: &Caller,
        action: &str,
        resource: &Resource<'_>,
        context: &[(&str, &str)],
    ) -> bool {
        let action = uid("Action", action);
        let set = self.by_action.get(&action).unwrap_or(&self.any_action);
        self.decide(set, caller, action, resource, context)
    }

    /// [`Policies::is_permitted`] evaluating every policy, for tests that
    /// check the split by action changes no decision.
    #[doc(hidden)]
    pub fn is_permitted_by_every_policy(
        &self,
        caller: &Caller,
        action: &str,
        resource: &Resource<'_>,
        context: &[(&str, &str)],
    ) -> bool {
        self.decide(&self.set, caller, uid("Action", action), resource, context)
    }

    /// The actions the policies name.
    pub fn actions(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .by_action
            .keys()
            .map(|a| a.id().unescaped().to_owned())
            .collect();
        names.sort();
        names
    }

    fn decide(
        &self,
        set: &PolicySet,
        caller: &Caller,
        action: EntityUid,
        resource: &Resource<'_>,
        context: &[(&str, &str)],
    ) -> bool {
        let mut entities = Vec::with_capacity(3 + caller.roles.len());
        let principal = if caller.is_anonymous() {
            uid("Anonymous", "anonymous")
        } else if caller.is_service() {
            let p = uid("Service", &caller.subject);
            entities.push(Entity::new_no_attrs(p.clone(), HashSet::new()));
            p
        } else {
            let id = caller.actor();
            let p = uid("User", &id);
            let mut attrs =
                HashMap::from([("id".to_owned(), RestrictedExpression::new_string(id))]);
            if let Some(j) = &caller.jurisdiction {
                attrs.insert(
                    "jurisdiction".to_owned(),
                    RestrictedExpression::new_string(j.clone()),
                );
            }
            let parents: HashSet<EntityUid> = caller
                .roles
                .iter()
                .map(|r| uid("Role", r.as_str()))
                .collect();
            for r in &parents {
                entities.push(Entity::new_no_attrs(r.clone(), HashSet::new()));
            }
            match Entity::new(p.clone(), attrs, parents) {
                Ok(e) => entities.push(e),
                Err(e) => {
                    tracing::error!(error = %e, "building the principal entity");
                    return false;
                }
            }
            p
        };
        let res = uid(resource.kind, resource.id);
        let mut attrs = HashMap::new();
        if let Some(owner) = resource.owner {
            attrs.insert(
                "owner".to_owned(),
                RestrictedExpression::new_string(owner.to_owned()),
            );
        }
        if !resource.jurisdictions.is_empty() {
            attrs.insert(
                "jurisdictions".to_owned(),
                RestrictedExpression::new_set(
                    resource
                        .jurisdictions
                        .iter()
                        .map(|j| RestrictedExpression::new_string(j.clone())),
                ),
            );
        }
        match Entity::new(res.clone(), attrs, HashSet::new()) {
            Ok(e) => entities.push(e),
            Err(e) => {
                tracing::error!(error = %e, "building the resource entity");
                return false;
            }
        }
        let context = Context::from_pairs(context.iter().map(|(k, v)| {
            (
                (*k).to_owned(),
                RestrictedExpression::new_string((*v).to_owned()),
            )
        }));
        let (Ok(context), Ok(entities)) = (context, Entities::from_entities(entities, None)) else {
            return false;
        };
        let Ok(request) = Request::new(principal, action, res, context, None) else {
            return false;
        };
        self.authorizer
            .is_authorized(&request, set, &entities)
            .decision()
            == Decision::Allow
    }

    /// `Ok` when permitted; otherwise "sign in" for an anonymous caller and
    /// "not allowed" for anyone else.
    pub fn require(
        &self,
        caller: &Caller,
        action: &str,
        resource: &Resource<'_>,
    ) -> Result<(), PublicError> {
        self.require_with(caller, action, resource, &[])
    }

    /// [`Policies::require`] with a context.
    pub fn require_with(
        &self,
        caller: &Caller,
        action: &str,
        resource: &Resource<'_>,
        context: &[(&str, &str)],
    ) -> Result<(), PublicError> {
        if self.is_permitted(caller, action, resource, context) {
            return Ok(());
        }
        metrics::counter!("plaza_authz_denied_total", "action" => action.to_owned()).increment(1);
        Err(denied(caller))
    }

    /// Like [`Policies::require`], but a signed-in caller who may not see
    /// the record is told it does not exist (`not_found`): whether someone
    /// else's record exists is itself private.
    pub fn require_or_hide(
        &self,
        caller: &Caller,
        action: &str,
        resource: &Resource<'_>,
        not_found: PublicError,
    ) -> Result<(), PublicError> {
        match self.require(caller, action, resource) {
            Err(e) if !caller.is_anonymous() && e.kind == ErrorKind::PermissionDenied => {
                Err(not_found)
            }
            other => other,
        }
    }
}

/// The policies of `set` by the action they name, and those naming none.
fn by_action(set: &PolicySet) -> Result<(HashMap<EntityUid, PolicySet>, PolicySet), String> {
    if set.templates().next().is_some() {
        return Err("policy templates are not supported".to_owned());
    }
    let mut any = PolicySet::new();
    let mut named: HashMap<EntityUid, Vec<cedar_policy::Policy>> = HashMap::new();
    for p in set.policies() {
        match p.action_constraint() {
            ActionConstraint::Any => any.add(p.clone()).map_err(|e| e.to_string())?,
            ActionConstraint::Eq(a) => named.entry(a).or_default().push(p.clone()),
            ActionConstraint::In(actions) => {
                for a in actions {
                    named.entry(a).or_default().push(p.clone());
                }
            }
        }
    }
    let mut sets = HashMap::with_capacity(named.len());
    for (action, policies) in named {
        let mut s = any.clone();
        for p in policies {
            // A policy listing an action twice is added once.
            if s.policy(p.id()).is_none() {
                s.add(p).map_err(|e| e.to_string())?;
            }
        }
        sets.insert(action, s);
    }
    Ok((sets, any))
}

/// The error for a refused caller.
pub fn denied(caller: &Caller) -> PublicError {
    if caller.is_anonymous() {
        PublicError::new(
            ErrorKind::Unauthenticated,
            "sign_in_required",
            "Sign in to do this.",
        )
    } else {
        PublicError::new(
            ErrorKind::PermissionDenied,
            "forbidden",
            "Your account is not allowed to do this.",
        )
    }
}
