//! Live-location evidence: GetBucketLocation answers, attestations, the guard's admission and
//! presigned URL checks.

use bitatlas::residency::{
    self, Catalog, Guard, LocationEvidence, Policy, ResidencyCode as C, StoreSpec,
};

fn decide(spec: StoreSpec) -> residency::Decision {
    let d = residency::check(Catalog::builtin(), &Policy::eea_default(), &spec);
    assert!(d.allowed, "{}", d.message);
    d
}

fn garage_fr() -> residency::Decision {
    decide(StoreSpec {
        name: "garage-fr".into(),
        provider: "garage".into(),
        region: Some("fr-par".into()),
        endpoint: Some("http://127.0.0.1:3900".into()),
        bucket: Some("data".into()),
        attested_country: Some("FR".into()),
    })
}

fn aws(region: &str) -> residency::Decision {
    decide(StoreSpec {
        name: "s3".into(),
        provider: "aws".into(),
        region: Some(region.into()),
        endpoint: None,
        bucket: Some("data".into()),
        attested_country: None,
    })
}

fn code(r: Result<(), residency::Decision>) -> C {
    match r {
        Ok(()) => C::Ok,
        Err(d) => {
            assert!(!d.allowed);
            d.code
        }
    }
}

#[test]
fn empty_answer_means_us_east_1_and_is_denied() {
    assert_eq!(
        code(residency::check_location_answer(&aws("eu-west-1"), "")),
        C::NonEeaRegion
    );
    // On a self-hosted server an empty answer is simply not the configured region.
    assert_eq!(
        code(residency::check_location_answer(&garage_fr(), "")),
        C::LocationMismatch
    );
    let xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"/>";
    assert_eq!(
        code(residency::check_location_answer(&aws("eu-west-1"), xml)),
        C::NonEeaRegion
    );
}

#[test]
fn legacy_eu_answer_means_eu_west_1() {
    assert_eq!(
        code(residency::check_location_answer(&aws("eu-west-1"), "EU")),
        C::Ok
    );
    assert_eq!(
        code(residency::check_location_answer(
            &aws("eu-west-1"),
            "eu-west-1"
        )),
        C::Ok
    );
    assert_eq!(
        code(residency::check_location_answer(&aws("eu-central-1"), "EU")),
        C::LocationMismatch
    );
    let xml = "<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">EU</LocationConstraint>";
    assert_eq!(
        code(residency::check_location_answer(&aws("eu-west-1"), xml)),
        C::Ok
    );
}

#[test]
fn answers_naming_non_eea_regions_are_non_eea() {
    assert_eq!(
        code(residency::check_location_answer(
            &aws("eu-west-1"),
            "eu-west-2"
        )),
        C::NonEeaRegion
    );
    assert_eq!(
        code(residency::check_location_answer(
            &aws("eu-central-1"),
            "eu-central-2"
        )),
        C::NonEeaRegion
    );
    assert_eq!(
        code(residency::check_location_answer(
            &aws("eu-west-1"),
            "eu-west-3"
        )),
        C::LocationMismatch
    );
}

#[test]
fn garage_answers_are_compared_exactly() {
    let d = garage_fr();
    assert_eq!(code(residency::check_location_answer(&d, "fr-par")), C::Ok);
    assert_eq!(
        code(residency::check_location_answer(&d, "us-east-1")),
        C::LocationMismatch
    );
    assert_eq!(
        code(residency::check_location_answer(&d, "garage")),
        C::LocationMismatch
    );
    assert_eq!(
        code(residency::check_location_answer(&d, "fr-par ")),
        C::LocationMismatch
    );
    assert_eq!(
        code(residency::check_location_answer(&d, "FR-PAR")),
        C::LocationMismatch
    );
    let xml =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><LocationConstraint>fr-par</LocationConstraint>";
    assert_eq!(code(residency::check_location_answer(&d, xml)), C::Ok);
}

#[test]
fn garage_us_east_1_is_a_mismatch_for_a_store_configured_fr_par() {
    // The configured store is fr-par; a server answering us-east-1 is not the one configured.
    let d = garage_fr();
    let r = residency::check_location_answer(&d, "us-east-1");
    assert_eq!(code(r), C::LocationMismatch);
    let g = Guard::admit(
        d,
        (),
        LocationEvidence::BucketLocation {
            answer: "us-east-1".into(),
        },
    );
    assert_eq!(
        g.map(|_| ()).unwrap_err().code(),
        "POLICY_LOCATION_MISMATCH"
    );
}

#[test]
fn garbage_and_injection_fail_closed() {
    let d = garage_fr();
    for answer in [
        "<LocationConstraint>fr-par</LocationConstraint><LocationConstraint>us-east-1</LocationConstraint>",
        "<LocationConstraint>fr-par<!-- x --></LocationConstraint>",
        "<LocationConstraint>&#102;r-par</LocationConstraint>",
        "<LocationConstraint xmlns=\"evil\">fr-par</LocationConstraint>",
        "<LocationConstraint>fr-par</LocationConstraint>trailing",
        "<LocationConstraint>fr-par",
        "<Error><Code>AccessDenied</Code></Error>",
        "<!DOCTYPE x [<!ENTITY e \"fr-par\">]><LocationConstraint>&e;</LocationConstraint>",
        "fr-par\u{0}",
        "fr\u{2011}par",
        "\nfr-par",
        "fr-par\nus-east-1",
        &"a".repeat(65),
    ] {
        assert_eq!(
            code(residency::check_location_answer(&d, answer)),
            C::LocationMismatch,
            "{answer:?} must fail closed"
        );
    }
    assert_eq!(
        residency::parse_location_answer("<LocationConstraint/>").as_deref(),
        Some("")
    );
}

#[test]
fn guard_admits_only_with_matching_evidence() {
    let g = Guard::admit(
        garage_fr(),
        "adapter",
        LocationEvidence::BucketLocation {
            answer: "fr-par".into(),
        },
    )
    .expect("admitted");
    assert_eq!(g.placement().country, "FR");
    assert_eq!(g.placement().region, "fr-par");
    assert_eq!(g.placement().store, "garage-fr");
    assert!(g.placement().attested);
    assert_eq!(*g.adapter(), "adapter");

    // An attestation cannot replace the bucket-location check of an S3 store.
    let e = Guard::admit(
        garage_fr(),
        (),
        LocationEvidence::Attested {
            country: "FR".into(),
        },
    )
    .expect_err("refused");
    assert_eq!(e.code(), "POLICY_LOCATION_MISMATCH");

    let local = decide(StoreSpec {
        name: "disk".into(),
        provider: "local".into(),
        attested_country: Some("DE".into()),
        ..StoreSpec::default()
    });
    let ok = Guard::admit(
        local.clone(),
        (),
        LocationEvidence::Attested {
            country: "DE".into(),
        },
    )
    .expect("local admitted");
    assert_eq!(ok.placement().provider, "local");
    let e = Guard::admit(
        local,
        (),
        LocationEvidence::Attested {
            country: "FR".into(),
        },
    )
    .expect_err("other country");
    assert_eq!(e.code(), "POLICY_LOCATION_MISMATCH");

    // A denied decision is never admitted, whatever the evidence.
    let denied = residency::check(
        Catalog::builtin(),
        &Policy::eea_default(),
        &StoreSpec {
            provider: "aws".into(),
            region: Some("eu-west-2".into()),
            ..StoreSpec::default()
        },
    );
    let e = Guard::admit(
        denied,
        (),
        LocationEvidence::BucketLocation {
            answer: "eu-west-2".into(),
        },
    )
    .expect_err("denied");
    assert_eq!(e.code(), "POLICY_NON_EEA_REGION");
}

#[test]
fn presigned_urls_must_use_the_verified_host() {
    let d = aws("eu-west-1");
    let ok = "https://s3.eu-west-1.amazonaws.com/data/k?X-Amz-Signature=00";
    assert_eq!(code(residency::check_presigned_url(&d, ok)), C::Ok);
    let vh = "https://data.s3.eu-west-1.amazonaws.com/k?X-Amz-Signature=00";
    assert_eq!(code(residency::check_presigned_url(&d, vh)), C::Ok);
    for (url, want) in [
        (
            "https://s3-accelerate.amazonaws.com/data/k",
            C::NonEeaEndpoint,
        ),
        (
            "https://s3.eu-west-2.amazonaws.com/data/k",
            C::NonEeaEndpoint,
        ),
        (
            "https://s3.eu-west-1.amazonaws.com:8443/data/k",
            C::NonEeaEndpoint,
        ),
        (
            "http://s3.eu-west-1.amazonaws.com/data/k",
            C::InvalidEndpoint,
        ),
        (
            "https://x@s3.eu-west-1.amazonaws.com/data/k",
            C::InvalidEndpoint,
        ),
        (
            "https://S3.EU-WEST-1.amazonaws.com/data/k",
            C::InvalidEndpoint,
        ),
        (
            "https://s3\u{3002}eu-west-1.amazonaws.com/data/k",
            C::InvalidEndpoint,
        ),
    ] {
        assert_eq!(code(residency::check_presigned_url(&d, url)), want, "{url}");
    }
    let g = garage_fr();
    assert_eq!(
        code(residency::check_presigned_url(
            &g,
            "http://127.0.0.1:3900/data/k?sig=1"
        )),
        C::Ok
    );
    assert_eq!(
        code(residency::check_presigned_url(
            &g,
            "http://127.0.0.1:3901/data/k?sig=1"
        )),
        C::NonEeaEndpoint
    );
}

/// The guard reads XML answers with the adapter's parser: both accept and refuse the same
/// bodies, including those the two used to disagree on (comments outside the element, a
/// foreign namespace, whitespace before the declaration).
#[test]
fn guard_and_adapter_read_location_answers_alike() {
    let ns = "http://s3.amazonaws.com/doc/2006-03-01/";
    let bodies = [
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"{ns}\">fr-par</LocationConstraint>"),
        format!("<LocationConstraint xmlns=\"{ns}\"/>"),
        "<LocationConstraint>EU</LocationConstraint>".into(),
        "<!-- c --><LocationConstraint>fr-par</LocationConstraint>".into(),
        "<LocationConstraint>fr-par</LocationConstraint><!-- c -->".into(),
        "<LocationConstraint xmlns=\"evil\">fr-par</LocationConstraint>".into(),
        "<LocationConstraint><![CDATA[fr-par]]></LocationConstraint>".into(),
        "<!DOCTYPE x><LocationConstraint>fr-par</LocationConstraint>".into(),
        "<LocationConstraint>fr-par</LocationConstraint><LocationConstraint>us-east-1</LocationConstraint>".into(),
        "<LocationConstraint> fr-par </LocationConstraint>".into(),
        "<s3:LocationConstraint xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">fr-par</s3:LocationConstraint>".into(),
    ];
    for body in &bodies {
        assert_eq!(
            residency::parse_location_answer(body),
            bitatlas_adapters::parse_location(body.as_bytes()).ok(),
            "{body}"
        );
    }
    let d = garage_fr();
    for body in &bodies[3..] {
        assert_eq!(
            code(residency::check_location_answer(&d, body)),
            C::LocationMismatch,
            "{body} must fail closed"
        );
    }
    assert_eq!(
        code(residency::check_location_answer(&d, &bodies[0])),
        C::Ok
    );
}
