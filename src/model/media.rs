//! Media types and annotation keys airlock reads or writes.

/// The OCI annotation that names an image in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// A Helm chart's config (and, by convention, its artifact type).
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// The OCI 1.1 empty descriptor's media type (`{}`), used as the config of
/// artifacts that have none.
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The annotation ORAS (and `airlock pack --file`) gives each file layer:
/// the file's name.
pub const IMAGE_TITLE: &str = "org.opencontainers.image.title";
/// An uncompressed OCI layer (its digest is also its diff_id).
pub const OCI_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";

/// cosign's "simple signing" payload, the layer of a `.sig` manifest.
pub const COSIGN_SIMPLESIGNING: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// A DSSE envelope, the layer of a cosign `.att` manifest.
pub const DSSE_ENVELOPE: &str = "application/vnd.dsse.envelope.v1+json";
/// The DSSE payload type of an in-toto statement.
pub const IN_TOTO: &str = "application/vnd.in-toto+json";

/// Media type of airlock's archive manifest (`airlock.json`).
pub const ARCHIVE_MANIFEST: &str = "application/vnd.airlock.archive.manifest.v1+json";
/// `airlock inventory`: the blobs and manifests a site already holds.
pub const INVENTORY: &str = "application/vnd.airlock.inventory.v1+json";

pub fn is_image_manifest(mt: &str) -> bool {
    mt == OCI_MANIFEST || mt == DOCKER_MANIFEST
}

/// Whether a config media type is a runnable image's config.
pub fn is_image_config(mt: &str) -> bool {
    mt == OCI_CONFIG || mt == DOCKER_CONFIG
}

pub fn is_index(mt: &str) -> bool {
    mt == OCI_INDEX || mt == DOCKER_MANIFEST_LIST
}

/// Whether a blob is a JSON document airlock parses (manifests, indexes,
/// configs and JSON evidence) as opposed to opaque layer data.
pub fn is_json(mt: &str) -> bool {
    is_image_manifest(mt) || is_index(mt) || mt.ends_with("+json") || mt.ends_with("/json")
}

/// A Sigstore `trusted_root.json` stored as a blob (the document's own
/// `mediaType` is `application/vnd.dev.sigstore.trustedroot+json;version=0.1`;
/// this is its OCI spelling, in the form Sigstore uses for bundles, so it is
/// a JSON type without parameters).
pub const TRUSTED_ROOT: &str = "application/vnd.dev.sigstore.trustedroot.v0.1+json";

/// TUF metadata (root, timestamp, snapshot, targets): plain JSON; the
/// evidence role says which.
pub const TUF_METADATA: &str = "application/json";

/// A `notary-trust` evidence document (`model::notary::NotaryDocument`).
pub const NOTARY_TRUST: &str = "application/vnd.airlock.notary-trust.v1+json";
