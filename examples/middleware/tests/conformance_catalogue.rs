//! The conformance suite over the catalogue's newer middleware (issue 14),
//! each with exactly the declarations of what it changes. Kept apart from
//! `conformance.rs` so the two files can grow independently.

use rgi_conformance::check;
use rgi_middleware_examples::Database;

#[tokio::test]
async fn database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("conformance.db");
    let unwritable = dir.path().join("missing-dir").join("x.db");
    check(move |inner| rgi::boxed(Database::new(inner, &path)))
        .fails_startup(
            move |inner| rgi::boxed(Database::new(inner, &unwritable)),
            "unable to open database file",
        )
        .run()
        .await
        .assert_clean();
}
