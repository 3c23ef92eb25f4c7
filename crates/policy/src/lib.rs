//! Authorisation decisions. Plaza's policies are Cedar files in the
//! repository's `policies/` folder, compiled into every binary; each
//! service asks [`Policies::require`] in its own app layer before it does
//! anything, so a service reached directly is no weaker than one reached
//! through the gateway.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, RwLock};

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

/// Policy sets by the name of the action they decide, each with the
/// action's entity.
type ByAction = HashMap<String, (EntityUid, PolicySet)>;

/// The loaded policies.
#[derive(Clone)]
pub struct Policies {
    set: Arc<PolicySet>,
    /// For each action a policy names, the policies that could apply to it:
    /// those naming it and those naming no action. A decision evaluates
    /// only these; every other policy's scope rules it out before its
    /// conditions are read, so the answer is the same as the whole set's
    /// (the `in` of an action is equality here: requests carry no action
    /// hierarchy). Keyed by the action's name, with its entity id.
    by_action: Arc<ByAction>,
    /// The policies naming no action: all that could apply to an action no
    /// policy names.
    any_action: Arc<PolicySet>,
    authorizer: Arc<Authorizer>,
    /// Entity type names met so far: parsing one is the dearest part of
    /// naming an entity, and a service names the same few types over and
    /// over.
    types: Arc<RwLock<HashMap<String, EntityTypeName>>>,
}

impl std::fmt::Debug for Policies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Policies({} policies)", self.set.policies().count())
    }
}

/// The entity type `Plaza::{kind}`, or `None` when `kind` does not make a
/// valid name.
fn type_name(kind: &str) -> Option<EntityTypeName> {
    EntityTypeName::from_str(&format!("Plaza::{kind}")).ok()
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
            types: Arc::default(),
        })
    }

    /// The entity `Plaza::{kind}::"{id}"`, its type parsed once per kind.
    /// `None` when `kind` is not a valid name.
    fn entity_uid(&self, kind: &str, id: &str) -> Option<EntityUid> {
        let known = self
            .types
            .read()
            .ok()
            .and_then(|types| types.get(kind).cloned());
        let name = match known {
            Some(name) => name,
            None => {
                let name = type_name(kind)?;
                if let Ok(mut types) = self.types.write() {
                    types.insert(kind.to_owned(), name.clone());
                }
                name
            }
        };
        Some(EntityUid::from_type_name_and_id(name, EntityId::new(id)))
    }

    /// [`Policies::entity_uid`] for the types Plaza itself names.
    fn own_uid(&self, kind: &'static str, id: &str) -> EntityUid {
        self.entity_uid(kind, id)
            .expect("Plaza's own entity types are valid names")
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
        match self.by_action.get(action) {
            Some((uid, set)) => self.decide(set, caller, uid.clone(), resource, context),
            None => match self.entity_uid("Action", action) {
                Some(uid) => self.decide(&self.any_action, caller, uid, resource, context),
                None => false,
            },
        }
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
        match self.entity_uid("Action", action) {
            Some(uid) => self.decide(&self.set, caller, uid, resource, context),
            None => false,
        }
    }

    /// The actions the policies name.
    pub fn actions(&self) -> Vec<String> {
        let mut names: Vec<String> = self.by_action.keys().cloned().collect();
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
        // The principal and the resource. A role is only named as one of
        // the principal's parents: `principal in Plaza::Role::"clerk"` reads
        // the principal's ancestors, so the role needs no entity of its own.
        let mut entities = Vec::with_capacity(2);
        let principal = if caller.is_anonymous() {
            self.own_uid("Anonymous", "anonymous")
        } else if caller.is_service() {
            let p = self.own_uid("Service", &caller.subject);
            entities.push(Entity::new_no_attrs(p.clone(), HashSet::new()));
            p
        } else {
            let id = caller.actor();
            let p = self.own_uid("User", &id);
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
                .filter_map(|r| self.entity_uid("Role", r.as_str()))
                .collect();
            match Entity::new(p.clone(), attrs, parents) {
                Ok(e) => entities.push(e),
                Err(e) => {
                    tracing::error!(error = %e, "building the principal entity");
                    return false;
                }
            }
            p
        };
        let Some(res) = self.entity_uid(resource.kind, resource.id) else {
            tracing::error!(
                kind = resource.kind,
                "a resource kind that is not a valid name"
            );
            return false;
        };
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
        let context = if context.is_empty() {
            Ok(Context::empty())
        } else {
            Context::from_pairs(context.iter().map(|(k, v)| {
                (
                    (*k).to_owned(),
                    RestrictedExpression::new_string((*v).to_owned()),
                )
            }))
        };
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
fn by_action(set: &PolicySet) -> Result<(ByAction, PolicySet), String> {
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
        // Decisions name `Plaza::Action`s only: a policy naming another
        // type's action applies to none of them.
        if action.type_name().to_string() == "Plaza::Action" {
            sets.insert(action.id().unescaped().to_owned(), (action, s));
        }
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
