//! Offices as the domain sees them: validated on construction.

use plaza_contracts::offices::v1 as pb;

use crate::error::Error;

/// What an office is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfficeKind {
    DmvOffice,
    PoliceLicensingUnit,
    CardPickup,
}

impl OfficeKind {
    pub const ALL: [OfficeKind; 3] = [
        OfficeKind::DmvOffice,
        OfficeKind::PoliceLicensingUnit,
        OfficeKind::CardPickup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OfficeKind::DmvOffice => "dmv_office",
            OfficeKind::PoliceLicensingUnit => "police_licensing_unit",
            OfficeKind::CardPickup => "card_pickup",
        }
    }

    pub fn parse(s: &str) -> Option<OfficeKind> {
        OfficeKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn from_pb(k: i32) -> Option<OfficeKind> {
        match pb::OfficeKind::try_from(k).ok()? {
            pb::OfficeKind::DmvOffice => Some(OfficeKind::DmvOffice),
            pb::OfficeKind::PoliceLicensingUnit => Some(OfficeKind::PoliceLicensingUnit),
            pb::OfficeKind::CardPickup => Some(OfficeKind::CardPickup),
            pb::OfficeKind::Unspecified => None,
        }
    }

    pub fn to_pb(self) -> pb::OfficeKind {
        match self {
            OfficeKind::DmvOffice => pb::OfficeKind::DmvOffice,
            OfficeKind::PoliceLicensingUnit => pb::OfficeKind::PoliceLicensingUnit,
            OfficeKind::CardPickup => pb::OfficeKind::CardPickup,
        }
    }
}

/// The fields that make an office, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficeFields {
    pub code: String,
    pub name: String,
    pub kind: OfficeKind,
    pub street: String,
    pub city: String,
    pub county: String,
    pub state: String,
    pub zip: String,
    pub latitude: f64,
    pub longitude: f64,
    pub phone: String,
    pub hours: String,
    pub active: bool,
}

/// A stored office.
#[derive(Debug, Clone, PartialEq)]
pub struct Office {
    pub id: String,
    pub fields: OfficeFields,
    pub version: i64,
    pub updated_at_ms: i64,
}

fn invalid(field: &'static str, reason: impl Into<String>) -> Error {
    Error::Invalid {
        field,
        reason: reason.into(),
    }
}

fn text(field: &'static str, v: &str, max: usize) -> Result<String, Error> {
    let v = v.trim();
    if v.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if v.chars().count() > max {
        return Err(invalid(field, format!("is longer than {max} characters")));
    }
    if v.chars().any(char::is_control) {
        return Err(invalid(field, "contains control characters"));
    }
    Ok(v.to_owned())
}

impl OfficeFields {
    /// Checks raw input. `kind` is the text form (`dmv_office`, ...).
    #[allow(clippy::too_many_arguments)]
    pub fn parse(
        code: &str,
        name: &str,
        kind: Option<OfficeKind>,
        street: &str,
        city: &str,
        county: &str,
        state: &str,
        zip: &str,
        latitude: f64,
        longitude: f64,
        phone: &str,
        hours: &str,
        active: bool,
    ) -> Result<OfficeFields, Error> {
        let code = text("code", code, 32)?;
        if !code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(invalid("code", "may hold only A-Z, 0-9 and -"));
        }
        let kind = kind.ok_or_else(|| {
            invalid(
                "kind",
                "must be dmv_office, police_licensing_unit or card_pickup",
            )
        })?;
        let state = text("state", state, 2)?.to_ascii_uppercase();
        if state.len() != 2 || !state.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(invalid("state", "must be a two-letter USPS state code"));
        }
        let zip = zip.trim().to_owned();
        let digits: String = zip.chars().filter(|c| *c != '-').collect();
        let zip_ok = digits.bytes().all(|b| b.is_ascii_digit())
            && (digits.len() == 5
                || (digits.len() == 9 && zip.len() == 10 && zip.as_bytes()[5] == b'-'));
        if !zip_ok {
            return Err(invalid(
                "zip",
                "must be a ZIP code (12345) or ZIP+4 (12345-6789)",
            ));
        }
        if !latitude.is_finite() || !(-90.0..=90.0).contains(&latitude) {
            return Err(invalid("latitude", "must be between -90 and 90"));
        }
        if !longitude.is_finite() || !(-180.0..=180.0).contains(&longitude) {
            return Err(invalid("longitude", "must be between -180 and 180"));
        }
        let phone = phone.trim().to_owned();
        let phone_digits = phone.chars().filter(char::is_ascii_digit).count();
        if !phone.is_empty()
            && (phone_digits != 10
                || !phone
                    .chars()
                    .all(|c| c.is_ascii_digit() || " ()-+.".contains(c)))
        {
            return Err(invalid(
                "phone",
                "must be a ten-digit US number, e.g. (717) 555-0100",
            ));
        }
        Ok(OfficeFields {
            code,
            name: text("name", name, 200)?,
            kind,
            street: text("street", street, 200)?,
            city: text("city", city, 100)?,
            county: text("county", county, 100)?,
            state,
            zip,
            latitude,
            longitude,
            phone,
            hours: hours.trim().chars().take(200).collect(),
            active,
        })
    }

    pub fn from_pb(i: &pb::OfficeInput) -> Result<OfficeFields, Error> {
        OfficeFields::parse(
            &i.code,
            &i.name,
            OfficeKind::from_pb(i.kind),
            &i.street,
            &i.city,
            &i.county,
            &i.state,
            &i.zip,
            i.latitude,
            i.longitude,
            &i.phone,
            &i.hours,
            i.active,
        )
    }
}

impl Office {
    pub fn to_pb(&self) -> pb::Office {
        let f = &self.fields;
        pb::Office {
            id: self.id.clone(),
            code: f.code.clone(),
            name: f.name.clone(),
            kind: f.kind.to_pb() as i32,
            street: f.street.clone(),
            city: f.city.clone(),
            county: f.county.clone(),
            state: f.state.clone(),
            zip: f.zip.clone(),
            latitude: f.latitude,
            longitude: f.longitude,
            phone: f.phone.clone(),
            hours: f.hours.clone(),
            active: f.active,
            version: self.version,
            updated_at_ms: self.updated_at_ms,
        }
    }
}

/// Great-circle distance in kilometres (haversine, mean Earth radius).
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    const R: f64 = 6371.0088;
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = (lat2 - lat1).to_radians();
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * R * a.sqrt().asin()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> Result<OfficeFields, Error> {
        OfficeFields::parse(
            "DMV-0001",
            "Harrisburg Driver License Center",
            Some(OfficeKind::DmvOffice),
            "1101 S Front St",
            "Harrisburg",
            "Dauphin",
            "pa",
            "17104",
            40.25,
            -76.88,
            "(717) 555-0100",
            "Mo-Fr 08:30-16:30",
            true,
        )
    }

    #[test]
    fn valid_fields_are_normalised() {
        let f = ok().unwrap();
        assert_eq!(f.state, "PA");
    }

    #[test]
    fn bad_fields_name_the_field() {
        let bad = |f: fn(&mut (String, String, f64))| {
            let mut v = ("17104".to_string(), "(717) 555-0100".to_string(), 40.0);
            f(&mut v);
            OfficeFields::parse(
                "DMV-1",
                "n",
                Some(OfficeKind::DmvOffice),
                "s",
                "c",
                "k",
                "PA",
                &v.0,
                v.2,
                0.0,
                &v.1,
                "",
                true,
            )
        };
        assert!(matches!(
            bad(|v| v.0 = "1710".into()),
            Err(Error::Invalid { field: "zip", .. })
        ));
        assert!(matches!(
            bad(|v| v.0 = "17104-12".into()),
            Err(Error::Invalid { field: "zip", .. })
        ));
        assert!(bad(|v| v.0 = "17104-1234".into()).is_ok());
        assert!(matches!(
            bad(|v| v.1 = "555-01".into()),
            Err(Error::Invalid { field: "phone", .. })
        ));
        assert!(matches!(
            bad(|v| v.2 = 91.0),
            Err(Error::Invalid {
                field: "latitude",
                ..
            })
        ));
        assert!(matches!(
            bad(|v| v.2 = f64::NAN),
            Err(Error::Invalid {
                field: "latitude",
                ..
            })
        ));
    }

    #[test]
    fn haversine_matches_a_known_distance() {
        // Philadelphia City Hall to Pittsburgh's Market Square: about 415 km.
        let d = haversine_km(39.9526, -75.1652, 40.4406, -79.9959);
        assert!((d - 414.0).abs() < 5.0, "{d}");
        assert_eq!(haversine_km(40.0, -76.0, 40.0, -76.0), 0.0);
    }
}
