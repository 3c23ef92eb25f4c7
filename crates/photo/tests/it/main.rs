//! The photo service against real storage and a real gRPC server, on the
//! committed test photos (see `tests/fixtures/README.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use plaza_kernel::auth::{Caller, Role};
use plaza_kernel::clock::ManualClock;
use plaza_kernel::crypt::DataKey;
use plaza_kernel::db::StorageTarget;
use plaza_kernel::testing::{postgres_target, sqlite_target};
use plaza_photo::decode::{self, Limits};
use plaza_photo::{Config, Error, Photos, open_db};
use proptest::prelude::*;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn app(target: &StorageTarget, config: Config) -> Photos {
    let db = open_db(target).await.expect("photo db");
    Photos::new(
        db,
        DataKey::random(),
        Arc::new(ManualClock::new(1_000)),
        config,
    )
}

fn person(roles: &[Role]) -> Caller {
    Caller {
        subject: format!("person-{roles:?}"),
        issuer: "http://plaza.test/oidc".into(),
        roles: roles.to_vec(),
        jurisdiction: Some("PA".into()),
    }
}

fn as_png(jpeg: &[u8]) -> Vec<u8> {
    let img = image::load_from_memory(jpeg).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

#[tokio::test]
async fn good_photos_pass_every_check_as_jpeg_and_png() {
    let photos = app(&sqlite_target(), Config::default()).await;
    for name in ["good.jpg", "good_lower.jpg"] {
        let bytes = fixture(name);
        for (kind, bytes, claim) in [
            ("jpeg", bytes.clone(), "image/jpeg"),
            ("png", as_png(&bytes), "image/png"),
        ] {
            let report = photos.check(bytes, Some(claim)).await.unwrap();
            assert!(report.accepted, "{name} as {kind}: {:#?}", report.checks);
            assert_eq!(report.checks.len(), 13, "every check was measured");
            assert!(report.checks.iter().all(|c| c.passed && c.reason.is_none()));
        }
    }
}

#[tokio::test]
async fn each_defect_fails_with_its_own_reason_and_advice() {
    let photos = app(&sqlite_target(), Config::default()).await;
    let cases = [
        ("two_faces.jpg", "face_count", "photo.several_faces"),
        ("small_face.jpg", "head_height", "photo.head_too_small"),
        ("small_face.jpg", "eye_distance", "photo.eyes_too_close"),
        ("off_centre.jpg", "centred", "photo.off_centre"),
        ("dark.jpg", "exposure", "photo.too_dark"),
        ("dark.jpg", "background_brightness", "photo.background_dark"),
        ("blurred.jpg", "sharpness", "photo.blurred"),
        ("greyscale.jpg", "colour", "photo.greyscale"),
        (
            "colour_cast.jpg",
            "background_colour_cast",
            "photo.colour_cast",
        ),
        ("rotated.jpg", "upright", "photo.tilted"),
        (
            "cluttered.jpg",
            "background_uniformity",
            "photo.background_busy",
        ),
    ];
    for (name, check, reason) in cases {
        let report = photos.check(fixture(name), None).await.unwrap();
        assert!(!report.accepted, "{name} was accepted");
        let c = report
            .check(check)
            .unwrap_or_else(|| panic!("{name}: no {check} check in {:#?}", report.checks));
        assert!(!c.passed, "{name}: {check} passed with {}", c.value);
        assert_eq!(c.reason, Some(reason), "{name}: {c:?}");
        assert!(c.advice.is_some_and(|a| !a.is_empty()));
        assert!(
            c.min.is_some() || c.max.is_some(),
            "{name}: {check} has a threshold"
        );
    }
    // A blank wall has no face at all.
    let blank = image::RgbImage::from_pixel(600, 750, image::Rgb([235, 235, 232]));
    let mut png = std::io::Cursor::new(Vec::new());
    blank.write_to(&mut png, image::ImageFormat::Png).unwrap();
    let report = photos.check(png.into_inner(), None).await.unwrap();
    assert_eq!(report.reasons(), vec!["photo.no_face"]);
}

#[tokio::test]
async fn broken_and_lying_files_get_their_codes() {
    let photos = app(&sqlite_target(), Config::default()).await;
    let code = |r: Result<plaza_photo::Report, Error>| match r {
        Ok(report) => panic!("accepted as readable: {report:?}"),
        Err(e) => e.code(),
    };
    assert_eq!(
        code(photos.check(fixture("bomb.png"), None).await),
        "photo.too_many_pixels"
    );
    assert_eq!(
        code(photos.check(fixture("truncated.jpg"), None).await),
        "photo.unreadable"
    );
    assert_eq!(
        code(
            photos
                .check(fixture("jpeg_named.png"), Some("image/png"))
                .await
        ),
        "photo.unsupported_type"
    );
    assert_eq!(
        code(photos.check(fixture("random.bin"), None).await),
        "photo.unsupported_type"
    );
    assert_eq!(
        code(photos.check(b"GIF89a....".to_vec(), None).await),
        "photo.unsupported_type"
    );
    // A PNG cut short inside its image data.
    let png = as_png(&fixture("good.jpg"));
    assert_eq!(
        code(photos.check(png[..png.len() / 2].to_vec(), None).await),
        "photo.unreadable"
    );
    // A header that lies about the size: the PNG's IHDR says 100×100 but
    // the data is for the real size.
    let mut lying = png.clone();
    lying[16..20].copy_from_slice(&100u32.to_be_bytes());
    lying[20..24].copy_from_slice(&100u32.to_be_bytes());
    let r = photos.check(lying, None).await;
    assert!(
        matches!(r, Err(Error::Unreadable(_) | Error::TooSmall { .. })),
        "{r:?}"
    );
    // Over the byte limit, refused before anything is read.
    let small = app(
        &sqlite_target(),
        Config {
            limits: Limits {
                max_bytes: 10_000,
                ..Limits::default()
            },
            ..Config::default()
        },
    )
    .await;
    let e = small.check(fixture("good.jpg"), None).await.unwrap_err();
    assert_eq!(e.code(), "photo.too_large");
    assert_eq!(
        e.public().kind,
        plaza_kernel::error::ErrorKind::PayloadTooLarge
    );
}

/// Every file under `dir`, concatenated.
fn all_bytes(dir: &Path) -> Vec<u8> {
    let mut out = Vec::new();
    let mut stack: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.extend(std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn accepted_photos_are_stored_once_encrypted_and_without_metadata(target: StorageTarget) {
    let photos = app(&target, Config::default()).await;
    let original = fixture("good.jpg");
    assert!(
        contains(&original, b"PLAZA-EXIF-MARKER"),
        "the fixture carries metadata"
    );
    let first = photos
        .submit(original.clone(), Some("image/jpeg"))
        .await
        .unwrap();
    assert!(first.report.accepted);
    let id = first.photo_id.expect("stored");
    assert_eq!(id.len(), 64);
    let again = photos.submit(original.clone(), None).await.unwrap();
    assert_eq!(
        again.photo_id.as_deref(),
        Some(id.as_str()),
        "same photo, same id"
    );
    // The same pixels as PNG normalise to the same card photo.
    let png = photos.submit(as_png(&original), None).await.unwrap();
    let other = photos
        .submit(fixture("good_lower.jpg"), None)
        .await
        .unwrap();
    assert_ne!(other.photo_id.as_deref(), Some(id.as_str()));
    let rows: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM photos")
        .fetch_one(photos.db().reader())
        .await
        .unwrap();
    let distinct = 1 + usize::from(png.photo_id.as_deref() != Some(id.as_str())) + 1;
    assert_eq!(rows.0 as usize, distinct);

    let stored = photos.get(&id).await.unwrap();
    assert_eq!((stored.width, stored.height), (600, 750));
    let card = image::load_from_memory_with_format(&stored.jpeg, image::ImageFormat::Jpeg).unwrap();
    assert_eq!((card.width(), card.height()), (600, 750));
    for marker in [
        &b"PLAZA-EXIF-MARKER"[..],
        b"PLAZA-COMMENT-MARKER",
        b"Exif",
        b"GPS",
    ] {
        assert!(!contains(&stored.jpeg, marker), "metadata survived");
    }
    // The card photo itself passes the checks.
    let recheck = photos.check(stored.jpeg.clone(), None).await.unwrap();
    assert!(recheck.accepted, "{:#?}", recheck.checks);

    // Nothing of the photo is in clear in the database.
    let (sealed,): (String,) = sqlx::query_as("SELECT sealed FROM photos WHERE id = $1")
        .bind(&id)
        .fetch_one(photos.db().reader())
        .await
        .unwrap();
    use base64::Engine;
    let clear_b64 = base64::engine::general_purpose::STANDARD.encode(&stored.jpeg);
    assert!(!sealed.contains(&clear_b64[100..160]));
    if let StorageTarget::DataDir(dir) = &target {
        photos.db().close().await;
        let disk = all_bytes(dir);
        let middle = &stored.jpeg[stored.jpeg.len() / 2..stored.jpeg.len() / 2 + 48];
        assert!(!contains(&disk, middle), "JPEG bytes in clear on disk");
        assert!(
            !contains(&disk, &clear_b64.as_bytes()[200..260]),
            "base64 JPEG on disk"
        );
        assert!(!contains(
            &disk,
            &original[original.len() / 2..original.len() / 2 + 48]
        ));
    } else {
        photos.db().drop_schema().await.unwrap();
    }
}

#[tokio::test]
async fn sqlite_accepted_photos_are_stored_once_encrypted_and_without_metadata() {
    accepted_photos_are_stored_once_encrypted_and_without_metadata(sqlite_target()).await;
}

#[tokio::test]
#[ignore = "needs PLAZA_TEST_DATABASE_URL"]
async fn postgres_accepted_photos_are_stored_once_encrypted_and_without_metadata() {
    accepted_photos_are_stored_once_encrypted_and_without_metadata(postgres_target()).await;
}

#[tokio::test]
async fn rejected_photos_and_unknown_ids_store_and_find_nothing() {
    let photos = app(&sqlite_target(), Config::default()).await;
    let r = photos.submit(fixture("blurred.jpg"), None).await.unwrap();
    assert!(!r.report.accepted);
    assert_eq!(r.photo_id, None);
    let rows: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM photos")
        .fetch_one(photos.db().reader())
        .await
        .unwrap();
    assert_eq!(rows.0, 0);
    assert!(matches!(
        photos.get(&"0".repeat(64)).await,
        Err(Error::NotFound)
    ));
    assert!(matches!(photos.get("../etc").await, Err(Error::NotFound)));
}

#[tokio::test]
async fn a_full_pool_answers_busy_at_once() {
    let photos = app(
        &sqlite_target(),
        Config {
            workers: 1,
            queue: 1,
            ..Config::default()
        },
    )
    .await;
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let busy = photos
        .pool()
        .spawn(move || {
            started_tx.send(()).unwrap();
            release_rx.recv().unwrap();
        })
        .unwrap();
    started_rx.recv().unwrap();
    let queued = photos.pool().spawn(|| ()).unwrap();
    let e = photos.check(fixture("good.jpg"), None).await.unwrap_err();
    assert_eq!(e.code(), "photo.busy");
    assert_eq!(
        e.public().kind,
        plaza_kernel::error::ErrorKind::ResourceExhausted
    );
    release_tx.send(()).unwrap();
    busy.wait().await.unwrap();
    queued.wait().await.unwrap();
    assert!(
        photos
            .check(fixture("good.jpg"), None)
            .await
            .unwrap()
            .accepted
    );
}

#[tokio::test]
async fn over_grpc_citizens_check_and_submit_and_staff_read() {
    use plaza_contracts::photo::v1 as pb;
    use plaza_contracts::photo::v1::photo_service_client::PhotoServiceClient;
    use plaza_kernel::auth::{CALLER_METADATA, CallerSeal};

    let photos = app(&sqlite_target(), Config::default()).await;
    let seal = CallerSeal::from_key([7; 32]);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = plaza_photo::GrpcPhotos::server(photos.clone(), seal.clone());
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(server)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    let mut client = PhotoServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
    fn sealed_by<T>(seal: &CallerSeal, caller: Option<&Caller>, msg: T) -> tonic::Request<T> {
        let mut req = tonic::Request::new(msg);
        if let Some(c) = caller {
            let text = seal.seal(c, plaza_kernel::clock::now_ms());
            req.metadata_mut()
                .insert(CALLER_METADATA, text.parse().unwrap());
        }
        req
    }
    let code = |s: &tonic::Status| {
        s.metadata()
            .get("plaza-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let citizen = person(&[Role::Citizen]);
    let clerk = person(&[Role::Clerk]);
    let auditor = person(&[Role::Auditor]);
    let good = fixture("good.jpg");

    // Nobody signed in may not check.
    let s = client
        .check(sealed_by(
            &seal,
            None,
            pb::CheckRequest {
                image: good.clone(),
                content_type: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(s.code(), tonic::Code::Unauthenticated);

    let checked = client
        .check(sealed_by(
            &seal,
            Some(&citizen),
            pb::CheckRequest {
                image: fixture("blurred.jpg"),
                content_type: "image/jpeg".into(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .report
        .unwrap();
    assert!(!checked.accepted);
    let sharp = checked
        .checks
        .iter()
        .find(|c| c.name == "sharpness")
        .unwrap();
    assert_eq!(sharp.reason, "photo.blurred");
    assert_eq!(sharp.min, Some(10.0));
    assert!(!sharp.advice.is_empty());

    let submitted = client
        .submit(sealed_by(
            &seal,
            Some(&citizen),
            pb::SubmitRequest {
                image: good.clone(),
                content_type: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(submitted.report.unwrap().accepted);
    let id = submitted.photo_id;
    assert_eq!(id.len(), 64);

    // A citizen or an auditor may not read stored photos; a clerk may.
    for who in [&citizen, &auditor] {
        let s = client
            .get(sealed_by(
                &seal,
                Some(who),
                pb::GetRequest {
                    photo_id: id.clone(),
                    without_image: false,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(s.code(), tonic::Code::PermissionDenied, "{who:?}");
    }
    let got = client
        .get(sealed_by(
            &seal,
            Some(&clerk),
            pb::GetRequest {
                photo_id: id.clone(),
                without_image: false,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((got.width, got.height), (600, 750));
    assert_eq!(got.jpeg, photos.get(&id).await.unwrap().jpeg);
    // The size alone, for a caller that only needs to know it is there.
    let size = client
        .get(sealed_by(
            &seal,
            Some(&clerk),
            pb::GetRequest {
                photo_id: id.clone(),
                without_image: true,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((size.width, size.height, size.jpeg.len()), (600, 750, 0));
    for who in [&citizen, &auditor] {
        let s = client
            .get(sealed_by(
                &seal,
                Some(who),
                pb::GetRequest {
                    photo_id: id.clone(),
                    without_image: true,
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(s.code(), tonic::Code::PermissionDenied, "{who:?}");
    }
    let missing = client
        .get(sealed_by(
            &seal,
            Some(&clerk),
            pb::GetRequest {
                photo_id: "0".repeat(64),
                without_image: true,
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(missing.code(), tonic::Code::NotFound);

    // A message over tonic's 4 MiB default reaches the service and is
    // judged by the photo rules.
    let mut big = vec![0u8; 5 << 20];
    big[..4].copy_from_slice(b"RIFF");
    let s = client
        .check(sealed_by(
            &seal,
            Some(&citizen),
            pb::CheckRequest {
                image: big,
                content_type: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(code(&s), "photo.unsupported_type");
    let s = client
        .check(sealed_by(
            &seal,
            Some(&citizen),
            pb::CheckRequest {
                image: fixture("bomb.png"),
                content_type: String::new(),
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(code(&s), "photo.too_many_pixels");
}

fn magic() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        Just(Vec::new()),
        Just(vec![0xFF, 0xD8, 0xFF]),
        Just(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random bytes, with or without a real file's magic, never panic the
    /// decoder front: they decode or get an error with a stable code.
    #[test]
    fn random_bytes_never_panic_the_decoder(prefix in magic(), tail in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let mut bytes = prefix;
        bytes.extend(tail);
        if let Err(e) = decode::decode(&bytes, None, &Limits::default()) {
            prop_assert!(e.code().starts_with("photo."));
        }
    }

    /// Damage anywhere in a real photo never panics either.
    #[test]
    fn damaged_photos_never_panic_the_decoder(at in 0usize..20_000, len in 1usize..64, byte in any::<u8>()) {
        let mut bytes = fixture("jpeg_named.png");
        let at = at % bytes.len();
        let end = (at + len).min(bytes.len());
        for b in &mut bytes[at..end] {
            *b = byte;
        }
        if let Err(e) = decode::decode(&bytes, None, &Limits::default()) {
            prop_assert!(e.code().starts_with("photo."));
        }
    }
}
