//! What goes on the card: the driver record, the new expiry and the
//! confirmed address, as the fulfillment service's card data.

use plaza_contracts::fulfillment::v1 as pb;

use super::Ctx;
use super::store::{self, Application};
use crate::drivers::domain::{Date, Sex};
use crate::error::Error;

/// The Issuer Identification Number of the sample state's cards.
pub const IIN: &str = "636025";

fn date(d: Date) -> Option<pb::Date> {
    let (year, month, day) = d.ymd();
    Some(pb::Date {
        year: year as u32,
        month,
        day,
    })
}

fn ascii_upper(s: &str) -> String {
    s.chars()
        .map(|c| c.to_ascii_uppercase())
        .filter(|c| c.is_ascii_alphanumeric() || " -'.,#/".contains(*c))
        .collect()
}

pub async fn card_data(ctx: &Ctx, app: &Application) -> Result<pb::CardData, Error> {
    let driver = ctx
        .drivers
        .store()
        .get(&app.driver_id)
        .await?
        .ok_or(Error::NotFound)?;
    let expires = Date::parse(&app.new_expires_on)?;
    let today = ctx.drivers.today();
    let mut given = driver.person.name.given.split_whitespace();
    let first = given.next().unwrap_or_default().to_owned();
    let middle = given.collect::<Vec<_>>().join(" ");
    let (street_1, street_2, city, state, zip) = if app.delivery.as_deref() == Some("mail") {
        // The confirmed, standardised lines: delivery line(s), then
        // "CITY ST ZIP5-ZIP4".
        let lines = store::open_lines(&ctx.key, app)?;
        split_lines(&lines).unwrap_or_else(|| record_address(&driver))
    } else {
        record_address(&driver)
    };
    let class = match driver.class.as_str() {
        "CDL-A" => "A",
        "CDL-B" => "B",
        "CDL-C" => "C",
        other => other,
    };
    let codes = |c: String| {
        if c.is_empty() {
            "NONE".to_owned()
        } else {
            c.replace(',', "")
        }
    };
    let d = &driver.person.description;
    Ok(pb::CardData {
        iin: IIN.into(),
        jurisdiction_version: 1,
        vehicle_class: class.into(),
        restrictions: codes(driver.restrictions.joined()),
        endorsements: codes(driver.endorsements.joined()),
        expiry: date(expires),
        issue_date: date(today),
        birth_date: date(driver.person.birth_date),
        family_name: ascii_upper(&driver.person.name.family),
        first_name: ascii_upper(&first),
        middle_names: ascii_upper(&middle),
        sex: match d.sex {
            Sex::Male => pb::Sex::Male,
            Sex::Female => pb::Sex::Female,
            Sex::NotSpecified => pb::Sex::NotSpecified,
        } as i32,
        eye_colour: d.eye_colour.clone(),
        height_in: u32::from(d.height_in),
        street_1: ascii_upper(&street_1),
        street_2: ascii_upper(&street_2),
        city: ascii_upper(&city),
        state,
        postal_code: zip.chars().filter(char::is_ascii_digit).collect(),
        customer_id: driver.licence_number.as_str().to_owned(),
        // Unique per card: the application that made it.
        document_discriminator: app
            .id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_uppercase())
            .take(25)
            .collect(),
        real_id: app.wants_real_id || driver.real_id,
        card_revision_date: date(Date::parse("2024-01-01")?),
        organ_donor: false,
        veteran: false,
        inventory_control: format!("PZ{}", app.created_ms),
    })
}

type Lines = (String, String, String, String, String);

fn record_address(driver: &crate::drivers::domain::Driver) -> Lines {
    let a = &driver.person.address;
    (
        a.line1.clone(),
        a.line2.clone(),
        a.city.clone(),
        a.state.clone(),
        a.zip.clone(),
    )
}

/// `["123 MAIN ST", ("APT 4",) "HARRISBURG PA 17101-1234"]` → parts.
fn split_lines(lines: &[String]) -> Option<Lines> {
    let (last, delivery) = lines.split_last()?;
    let mut words: Vec<&str> = last.split_whitespace().collect();
    let zip = words.pop()?.to_owned();
    let state = words.pop()?.to_owned();
    let city = words.join(" ");
    let street_1 = delivery.first()?.clone();
    let street_2 = delivery.get(1).cloned().unwrap_or_default();
    Some((street_1, street_2, city, state, zip))
}

#[cfg(test)]
mod tests {
    #[test]
    fn mailing_lines_split_into_card_fields() {
        let lines = vec![
            "123 N MAIN ST".to_owned(),
            "HARRISBURG PA 17101-1234".to_owned(),
        ];
        let (s1, s2, city, state, zip) = super::split_lines(&lines).unwrap();
        assert_eq!((s1.as_str(), s2.as_str()), ("123 N MAIN ST", ""));
        assert_eq!(
            (city.as_str(), state.as_str(), zip.as_str()),
            ("HARRISBURG", "PA", "17101-1234")
        );
        let lines = vec![
            "9 ELM AVE".to_owned(),
            "APT 4".to_owned(),
            "NEW CASTLE PA 16101".to_owned(),
        ];
        let (_, s2, city, _, _) = super::split_lines(&lines).unwrap();
        assert_eq!((s2.as_str(), city.as_str()), ("APT 4", "NEW CASTLE"));
        assert!(super::split_lines(&[]).is_none());
    }
}
