//! Flux's setter strategy: rewrite the YAML scalars marked `# {"$imagepolicy": "NS:NAME[:field]"}`
//! with the latest image of the named policy, changing no other byte of the file.

pub mod document;
pub mod images_entry;
pub mod marker;
pub mod object;
pub mod policy;
pub mod quoting;
pub mod result;
pub mod rewrite;
pub mod scalar_extent;
pub mod source_text;
pub mod tree;
