//! A realistic sample register of a state's service locations: DMV offices,
//! police licensing units and card-pickup points spread over Pennsylvania's
//! 67 counties in proportion to their population, near each county seat.
//! Seat coordinates are approximate; street names, numbers and phone numbers
//! (555-01xx, reserved for fiction) are made up. Sample data, deterministic
//! for a given seed.

use std::io::Write;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};

use crate::app::import::COLUMNS;

/// (county, seat, latitude, longitude, weight ≈ population in 10,000s, ZIP prefix, area code)
const COUNTIES: &[(&str, &str, f64, f64, u32, &str, &str)] = &[
    (
        "Philadelphia",
        "Philadelphia",
        39.9526,
        -75.1652,
        160,
        "191",
        "215",
    ),
    (
        "Allegheny",
        "Pittsburgh",
        40.4406,
        -79.9959,
        123,
        "152",
        "412",
    ),
    (
        "Montgomery",
        "Norristown",
        40.1215,
        -75.3399,
        86,
        "194",
        "610",
    ),
    ("Bucks", "Doylestown", 40.3101, -75.1299, 65, "189", "215"),
    ("Delaware", "Media", 39.9168, -75.3877, 58, "190", "610"),
    (
        "Chester",
        "West Chester",
        39.9607,
        -75.6055,
        54,
        "193",
        "610",
    ),
    (
        "Lancaster",
        "Lancaster",
        40.0379,
        -76.3055,
        55,
        "176",
        "717",
    ),
    ("York", "York", 39.9626, -76.7277, 46, "174", "717"),
    ("Berks", "Reading", 40.3356, -75.9269, 43, "196", "610"),
    ("Lehigh", "Allentown", 40.6084, -75.4902, 37, "181", "610"),
    ("Northampton", "Easton", 40.6884, -75.2207, 31, "180", "610"),
    (
        "Luzerne",
        "Wilkes-Barre",
        41.2459,
        -75.8813,
        33,
        "187",
        "570",
    ),
    (
        "Lackawanna",
        "Scranton",
        41.4090,
        -75.6624,
        22,
        "185",
        "570",
    ),
    ("Dauphin", "Harrisburg", 40.2732, -76.8867, 29, "171", "717"),
    (
        "Cumberland",
        "Carlisle",
        40.2015,
        -77.1889,
        26,
        "170",
        "717",
    ),
    ("Erie", "Erie", 42.1292, -80.0851, 27, "165", "814"),
    (
        "Westmoreland",
        "Greensburg",
        40.3015,
        -79.5389,
        35,
        "156",
        "724",
    ),
    (
        "Washington",
        "Washington",
        40.1740,
        -80.2462,
        21,
        "153",
        "724",
    ),
    ("Beaver", "Beaver", 40.6953, -80.3048, 17, "150", "724"),
    ("Butler", "Butler", 40.8612, -79.8953, 19, "160", "724"),
    ("Centre", "Bellefonte", 40.9134, -77.7783, 16, "168", "814"),
    (
        "Blair",
        "Hollidaysburg",
        40.4273,
        -78.3889,
        12,
        "166",
        "814",
    ),
    ("Cambria", "Ebensburg", 40.4851, -78.7247, 13, "159", "814"),
    (
        "Franklin",
        "Chambersburg",
        39.9376,
        -77.6611,
        16,
        "172",
        "717",
    ),
    ("Lebanon", "Lebanon", 40.3409, -76.4113, 14, "170", "717"),
    (
        "Schuylkill",
        "Pottsville",
        40.6856,
        -76.1955,
        14,
        "179",
        "570",
    ),
    ("Monroe", "Stroudsburg", 40.9868, -75.1946, 17, "183", "570"),
    (
        "Lycoming",
        "Williamsport",
        41.2412,
        -77.0011,
        11,
        "177",
        "570",
    ),
    ("Adams", "Gettysburg", 39.8309, -77.2311, 10, "173", "717"),
    ("Fayette", "Uniontown", 39.9001, -79.7164, 13, "154", "724"),
    ("Mercer", "Mercer", 41.2270, -80.2398, 11, "161", "724"),
    ("Lawrence", "New Castle", 41.0037, -80.3470, 9, "161", "724"),
    ("Crawford", "Meadville", 41.6414, -80.1514, 8, "163", "814"),
    ("Indiana", "Indiana", 40.6215, -79.1525, 8, "157", "724"),
    (
        "Northumberland",
        "Sunbury",
        40.8626,
        -76.7944,
        9,
        "178",
        "570",
    ),
    (
        "Clearfield",
        "Clearfield",
        41.0273,
        -78.4392,
        8,
        "168",
        "814",
    ),
    ("Somerset", "Somerset", 40.0084, -79.0781, 7, "155", "814"),
    ("Venango", "Franklin", 41.3978, -79.8314, 5, "163", "814"),
    ("Bradford", "Towanda", 41.7676, -76.4430, 6, "188", "570"),
    ("Columbia", "Bloomsburg", 41.0037, -76.4549, 6, "178", "570"),
    ("Wayne", "Honesdale", 41.5768, -75.2588, 5, "184", "570"),
    ("Pike", "Milford", 41.3223, -74.8024, 6, "183", "570"),
    ("Carbon", "Jim Thorpe", 40.8759, -75.7324, 6, "182", "570"),
    ("Mifflin", "Lewistown", 40.5992, -77.5714, 5, "170", "717"),
    (
        "Huntingdon",
        "Huntingdon",
        40.4848,
        -78.0103,
        4,
        "166",
        "814",
    ),
    ("Bedford", "Bedford", 40.0187, -78.5039, 5, "155", "814"),
    ("Warren", "Warren", 41.8439, -79.1450, 4, "163", "814"),
    ("McKean", "Smethport", 41.8112, -78.4447, 4, "167", "814"),
    ("Tioga", "Wellsboro", 41.7487, -77.3005, 4, "169", "570"),
    ("Clinton", "Lock Haven", 41.1370, -77.4469, 4, "177", "570"),
    (
        "Jefferson",
        "Brookville",
        41.1612,
        -79.0831,
        4,
        "158",
        "814",
    ),
    (
        "Armstrong",
        "Kittanning",
        40.8162,
        -79.5214,
        6,
        "162",
        "724",
    ),
    ("Greene", "Waynesburg", 39.8965, -80.1792, 4, "153", "724"),
    (
        "Susquehanna",
        "Montrose",
        41.8337,
        -75.8774,
        4,
        "188",
        "570",
    ),
    ("Wyoming", "Tunkhannock", 41.5387, -75.9466, 3, "186", "570"),
    ("Union", "Lewisburg", 40.9645, -76.8844, 4, "178", "570"),
    ("Snyder", "Middleburg", 40.7859, -77.0472, 4, "178", "570"),
    (
        "Perry",
        "New Bloomfield",
        40.4198,
        -77.1864,
        5,
        "170",
        "717",
    ),
    ("Juniata", "Mifflintown", 40.5698, -77.3969, 2, "170", "717"),
    (
        "Fulton",
        "McConnellsburg",
        39.9326,
        -77.9989,
        1,
        "172",
        "717",
    ),
    ("Montour", "Danville", 40.9634, -76.6127, 2, "178", "570"),
    ("Clarion", "Clarion", 41.2148, -79.3853, 4, "162", "814"),
    ("Elk", "Ridgway", 41.4203, -78.7286, 3, "158", "814"),
    ("Potter", "Coudersport", 41.7748, -78.0206, 2, "169", "814"),
    ("Sullivan", "Laporte", 41.4234, -76.4941, 1, "186", "570"),
    ("Forest", "Tionesta", 41.4953, -79.4559, 1, "163", "814"),
    ("Cameron", "Emporium", 41.5115, -78.2353, 1, "158", "814"),
];

const STREETS: &[&str] = &[
    "Main",
    "Market",
    "Church",
    "High",
    "Union",
    "Penn",
    "Walnut",
    "Chestnut",
    "Spruce",
    "Pine",
    "Maple",
    "Oak",
    "Franklin",
    "Washington",
    "Lincoln",
    "Liberty",
    "Ridge",
    "Valley",
    "Mill",
    "Railroad",
    "Center",
    "Front",
    "Water",
    "Hamilton",
    "Broad",
    "State",
    "King",
    "Queen",
    "Orchard",
    "Park",
];
const SUFFIXES: &[&str] = &["St", "Ave", "Rd", "Blvd", "Pike", "Dr", "Ln", "Hwy", "Way"];
const DIRECTIONS: &[&str] = &["", "", "", "N ", "S ", "E ", "W "];
const PLACES: &[&str] = &["", "North ", "South ", "East ", "West ", "Upper ", "Lower "];
const PICKUP_HOSTS: &[&str] = &[
    "Public Library",
    "Township Building",
    "Borough Hall",
    "County Courthouse Annex",
    "Community Center",
    "Post Office Lobby",
];
const HOURS: &[&str] = &[
    "Mo-Fr 08:30-16:30",
    "Tu-Sa 08:00-16:00",
    "Mo-Fr 08:00-17:00; Sa 08:00-12:00",
    "Mo,We,Fr 09:00-15:00",
    "Mo-Th 10:00-18:00",
];

/// Writes `count` offices as CSV (header first) to `out`.
pub fn generate<W: Write>(count: usize, seed: u64, out: W) -> Result<(), csv::Error> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = csv::Writer::from_writer(out);
    w.write_record(COLUMNS)?;
    let total_weight: u32 = COUNTIES.iter().map(|c| c.4).sum();
    let mut numbers = [0usize; 3];
    for i in 0..count {
        // Every county gets offices before any gets a second round of draws.
        let county = if let Some(c) = COUNTIES.get(i) {
            c
        } else {
            let mut pick = rng.random_range(0..total_weight);
            COUNTIES
                .iter()
                .find(|c| {
                    if pick < c.4 {
                        true
                    } else {
                        pick -= c.4;
                        false
                    }
                })
                .unwrap_or(&COUNTIES[0])
        };
        let (name, seat, lat, lon, _, zip3, area) = *county;
        let kind_roll = rng.random_range(0..100);
        let kind = match kind_roll {
            0..40 => 0,
            40..75 => 1,
            _ => 2,
        };
        numbers[kind] += 1;
        let place = format!("{}{seat}", PLACES.choose(&mut rng).unwrap_or(&""));
        let (code, office_name, kind_text) = match kind {
            0 => (
                format!("DMV-{:04}", numbers[0]),
                format!("{place} Driver License Center"),
                "dmv_office",
            ),
            1 => (
                format!("PLU-{:04}", numbers[1]),
                format!("{place} Police Department, Firearms Licensing Unit"),
                "police_licensing_unit",
            ),
            _ => (
                format!("CPU-{:04}", numbers[2]),
                format!(
                    "{place} {} (card pickup)",
                    PICKUP_HOSTS.choose(&mut rng).unwrap_or(&"Library")
                ),
                "card_pickup",
            ),
        };
        // Spread within ~25 km of the seat (wider for big counties).
        let spread = 0.08 + (county.4 as f64 / 160.0) * 0.15;
        let la = lat + rng.random_range(-spread..spread);
        let lo = lon + rng.random_range(-spread..spread) * 1.3;
        let street = format!(
            "{} {}{} {}",
            rng.random_range(1..9999),
            DIRECTIONS.choose(&mut rng).unwrap_or(&""),
            STREETS.choose(&mut rng).unwrap_or(&"Main"),
            SUFFIXES.choose(&mut rng).unwrap_or(&"St")
        );
        let zip = if rng.random_range(0..2) == 0 {
            format!("{zip3}{:02}", rng.random_range(1..99))
        } else {
            format!(
                "{zip3}{:02}-{:04}",
                rng.random_range(1..99),
                rng.random_range(1..9999)
            )
        };
        let phone = format!("({area}) 555-01{:02}", rng.random_range(0..100));
        let active = if rng.random_range(0..100) < 97 {
            "true"
        } else {
            "false"
        };
        w.write_record([
            code.as_str(),
            office_name.as_str(),
            kind_text,
            street.as_str(),
            place.as_str(),
            name,
            "PA",
            zip.as_str(),
            format!("{la:.6}").as_str(),
            format!("{lo:.6}").as_str(),
            phone.as_str(),
            HOURS.choose(&mut rng).unwrap_or(&HOURS[0]),
            active,
        ])?;
    }
    w.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_file_imports_cleanly_and_is_deterministic() {
        let mut a = Vec::new();
        generate(3000, 7, &mut a).unwrap();
        let mut b = Vec::new();
        generate(3000, 7, &mut b).unwrap();
        assert_eq!(a, b);
        let rows = crate::app::parse_csv(a.as_slice()).expect("generated rows are valid");
        assert_eq!(rows.len(), 3000);
        let counties: std::collections::HashSet<_> =
            rows.iter().map(|(_, f)| f.county.clone()).collect();
        assert_eq!(counties.len(), 67, "every county has at least one office");
        let kinds: std::collections::HashSet<_> = rows.iter().map(|(_, f)| f.kind).collect();
        assert_eq!(kinds.len(), 3);
    }
}
