//! Card orders: the domain types.

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::aamva::CardData;

/// Where an order stands.
///
/// `created → batched → in_production → produced → mailed` (mail) or
/// `→ ready_for_pickup` (pickup); `failed` when the vendor fails the batch;
/// `cancelled` when cancelled before it was batched. Once a batch is
/// recorded it goes to the vendor, and a vendor cannot be relied on to pull
/// one card out of a production run, so cancelling stops at `batched`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Created,
    Batched,
    InProduction,
    Produced,
    Mailed,
    ReadyForPickup,
    Failed,
    Cancelled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Batched => "batched",
            Status::InProduction => "in_production",
            Status::Produced => "produced",
            Status::Mailed => "mailed",
            Status::ReadyForPickup => "ready_for_pickup",
            Status::Failed => "failed",
            Status::Cancelled => "cancelled",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Some(match s {
            "created" => Status::Created,
            "batched" => Status::Batched,
            "in_production" => Status::InProduction,
            "produced" => Status::Produced,
            "mailed" => Status::Mailed,
            "ready_for_pickup" => Status::ReadyForPickup,
            "failed" => Status::Failed,
            "cancelled" => Status::Cancelled,
            _ => return None,
        })
    }

    /// How far along the happy path; terminal states are past everything.
    fn rank(self) -> u8 {
        match self {
            Status::Created => 0,
            Status::Batched => 1,
            Status::InProduction => 2,
            Status::Produced => 3,
            Status::Mailed | Status::ReadyForPickup => 4,
            Status::Failed | Status::Cancelled => 5,
        }
    }

    pub fn is_final(self) -> bool {
        self.rank() >= 4
    }

    /// Whether an order may move from `self` to `to`: forward only, never
    /// out of a final state.
    pub fn can_move_to(self, to: Status) -> bool {
        if self.is_final() || self == to {
            return false;
        }
        match to {
            Status::Cancelled => self == Status::Created,
            Status::Failed => self != Status::Created,
            _ => to.rank() > self.rank(),
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the card goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Delivery {
    /// Standardised (USPS Publication 28) address lines, as printed on the
    /// envelope: recipient, street, city/state/ZIP.
    Mail { lines: Vec<String> },
    /// Collect at an office (`plaza.offices.v1` id).
    Pickup { office_id: String },
}

impl Delivery {
    /// Checks the shape: 2–5 mail lines of 1–64 printable characters, or
    /// an office id of 1–64 letters, digits, `-` and `_`.
    pub fn validate(self) -> Result<Delivery, Error> {
        let bad = |reason: &str| Error::Invalid {
            field: "delivery",
            reason: reason.to_owned(),
        };
        match self {
            Delivery::Mail { lines } => {
                let lines: Vec<String> = lines
                    .iter()
                    .map(|l| l.trim().to_ascii_uppercase())
                    .collect();
                if !(2..=5).contains(&lines.len()) {
                    return Err(bad("a mail address has 2 to 5 lines"));
                }
                if lines.iter().any(|l| {
                    l.is_empty() || l.len() > 64 || !l.bytes().all(|b| (b' '..=b'~').contains(&b))
                }) {
                    return Err(bad("address lines are 1-64 printable characters"));
                }
                Ok(Delivery::Mail { lines })
            }
            Delivery::Pickup { office_id } => {
                let ok = (1..=64).contains(&office_id.len())
                    && office_id
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(bad("office id is 1-64 letters, digits, - or _"));
                }
                Ok(Delivery::Pickup { office_id })
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Delivery::Mail { .. } => "mail",
            Delivery::Pickup { .. } => "pickup",
        }
    }
}

/// A request for a card.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOrder {
    /// The same key returns the same order; a different request under it
    /// is refused.
    pub idempotency_key: String,
    pub renewal_id: String,
    /// The citizen the card is for, as the policies name people
    /// ([`plaza_kernel::auth::Caller::actor`]: `issuer|subject`).
    pub owner: String,
    pub card: CardData,
    pub delivery: Delivery,
}

/// A card order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    pub id: String,
    pub renewal_id: String,
    pub owner: String,
    pub card: CardData,
    pub delivery: Delivery,
    pub status: Status,
    pub reason: Option<String>,
    pub batch_id: Option<String>,
    pub tracking: Option<String>,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

/// The event every status change writes: `fulfillment.OrderStatusChanged`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderStatusChanged {
    pub order_id: String,
    pub renewal_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub tracking: Option<String>,
}

pub const ORDER_STATUS_CHANGED: &str = "fulfillment.OrderStatusChanged";
