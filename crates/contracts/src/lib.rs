//! Generated gRPC contracts. Every service talks to another only through
//! these clients, also when both share one process, so splitting services
//! apart is configuration, never a code change.

/// Encoded `FileDescriptorSet` of every contract, for server reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/plaza_descriptor.bin"));

pub mod offices {
    pub mod v1 {
        tonic::include_proto!("plaza.offices.v1");
    }
}

pub mod audit {
    pub mod v1 {
        tonic::include_proto!("plaza.audit.v1");
    }
}

pub mod identity {
    pub mod v1 {
        tonic::include_proto!("plaza.identity.v1");
    }
}

pub mod vault {
    pub mod v1 {
        tonic::include_proto!("plaza.vault.v1");
    }
}

pub mod photo {
    pub mod v1 {
        tonic::include_proto!("plaza.photo.v1");
    }
}

pub mod renewal {
    pub mod v1 {
        tonic::include_proto!("plaza.renewal.v1");
    }
}

pub mod address {
    pub mod v1 {
        tonic::include_proto!("plaza.address.v1");
    }
}

pub mod payments {
    pub mod v1 {
        tonic::include_proto!("plaza.payments.v1");
    }
}

pub mod fulfillment {
    pub mod v1 {
        tonic::include_proto!("plaza.fulfillment.v1");
    }
}

pub mod permits {
    pub mod v1 {
        tonic::include_proto!("plaza.permits.v1");
    }
}

pub mod checks {
    pub mod v1 {
        tonic::include_proto!("plaza.checks.v1");
    }
}
