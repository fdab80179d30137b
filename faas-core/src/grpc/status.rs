//! The one table between [`ErrorKind`] and gRPC [`Code`], both directions.
//!
//! | kind | code |
//! |---|---|
//! | `NotFound` | `NOT_FOUND` |
//! | `AlreadyExists` | `ALREADY_EXISTS` |
//! | `InvalidInput` | `INVALID_ARGUMENT` |
//! | `Conflict` | `FAILED_PRECONDITION` |
//! | `Unsupported` | `UNIMPLEMENTED` |
//! | `Unauthenticated` | `UNAUTHENTICATED` |
//! | `PermissionDenied` | `PERMISSION_DENIED` |
//! | `Unavailable` | `UNAVAILABLE` |
//! | `Timeout` | `DEADLINE_EXCEEDED` |
//! | `Internal` | `INTERNAL` |
//!
//! Codes outside the table fold into the nearest kind: `ABORTED` → `Conflict`,
//! `OUT_OF_RANGE` → `InvalidInput`, `RESOURCE_EXHAUSTED` and `CANCELLED` → `Unavailable`,
//! `UNKNOWN`, `DATA_LOSS` and `OK` → `Internal`.
//!
//! The status message is the error's one-line message; the field at fault travels in the
//! [`FIELD_METADATA`] key (or [`FIELD_METADATA_BIN`] when it is not ASCII) and the kind's name
//! in [`KIND_METADATA`], so [`Error::field`] and the exact kind survive the hop.

use tonic::metadata::{AsciiMetadataValue, BinaryMetadataValue, MetadataValue};
use tonic::{Code, Status};

use crate::error::{Error, ErrorKind};

/// Metadata key carrying the field at fault (ASCII).
pub const FIELD_METADATA: &str = "x-faas-error-field";
/// Metadata key carrying the field at fault when it is not ASCII.
pub const FIELD_METADATA_BIN: &str = "x-faas-error-field-bin";
/// Metadata key carrying [`ErrorKind::as_str`].
pub const KIND_METADATA: &str = "x-faas-error-kind";

/// The gRPC code for `kind`.
pub const fn code(kind: ErrorKind) -> Code {
    match kind {
        ErrorKind::NotFound => Code::NotFound,
        ErrorKind::AlreadyExists => Code::AlreadyExists,
        ErrorKind::InvalidInput => Code::InvalidArgument,
        ErrorKind::Conflict => Code::FailedPrecondition,
        ErrorKind::Unsupported => Code::Unimplemented,
        ErrorKind::Unauthenticated => Code::Unauthenticated,
        ErrorKind::PermissionDenied => Code::PermissionDenied,
        ErrorKind::Unavailable => Code::Unavailable,
        ErrorKind::Timeout => Code::DeadlineExceeded,
        ErrorKind::Internal => Code::Internal,
    }
}

/// The kind a gRPC code stands for (the reverse of [`code`], plus the folding rules).
pub const fn kind(code: Code) -> ErrorKind {
    match code {
        Code::NotFound => ErrorKind::NotFound,
        Code::AlreadyExists => ErrorKind::AlreadyExists,
        Code::InvalidArgument | Code::OutOfRange => ErrorKind::InvalidInput,
        Code::FailedPrecondition | Code::Aborted => ErrorKind::Conflict,
        Code::Unimplemented => ErrorKind::Unsupported,
        Code::Unauthenticated => ErrorKind::Unauthenticated,
        Code::PermissionDenied => ErrorKind::PermissionDenied,
        Code::Unavailable | Code::ResourceExhausted | Code::Cancelled => ErrorKind::Unavailable,
        Code::DeadlineExceeded => ErrorKind::Timeout,
        Code::Internal | Code::Unknown | Code::DataLoss | Code::Ok => ErrorKind::Internal,
    }
}

/// The status that carries `err` over gRPC (its source stays behind).
pub fn to_status(err: &Error) -> Status {
    let mut status = Status::new(code(err.kind()), err.message());
    let meta = status.metadata_mut();
    meta.insert(
        KIND_METADATA,
        AsciiMetadataValue::from_static(err.kind().as_str()),
    );
    if let Some(field) = err.field() {
        // HeaderValue accepts bytes >= 0x80 that `to_str` then rejects: only plain ASCII here.
        match AsciiMetadataValue::try_from(field)
            .ok()
            .filter(|_| field.is_ascii())
            .ok_or(())
        {
            Ok(v) => {
                meta.insert(FIELD_METADATA, v);
            }
            Err(_) => {
                let v: BinaryMetadataValue = MetadataValue::from_bytes(field.as_bytes());
                meta.insert_bin(FIELD_METADATA_BIN, v);
            }
        }
    }
    status
}

/// The error a status stands for: the kind from [`KIND_METADATA`] when present and known,
/// else from the code; the field from the metadata.
pub fn from_status(status: &Status) -> Error {
    let meta = status.metadata();
    let kind = meta
        .get(KIND_METADATA)
        .and_then(|v| v.to_str().ok())
        .and_then(ErrorKind::from_name)
        .unwrap_or_else(|| kind(status.code()));
    let message = if status.message().is_empty() {
        status.code().description().to_owned()
    } else {
        status.message().to_owned()
    };
    let mut err = Error::new(kind, message);
    let field = meta
        .get(FIELD_METADATA)
        .and_then(|v| v.to_str().ok().map(str::to_owned))
        .or_else(|| {
            meta.get_bin(FIELD_METADATA_BIN)
                .and_then(|v| v.to_bytes().ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
        });
    if let Some(field) = field {
        err = err.with_field(field);
    }
    err
}

impl From<Error> for Status {
    fn from(err: Error) -> Self {
        to_status(&err)
    }
}

impl From<Status> for Error {
    fn from(status: Status) -> Self {
        from_status(&status)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_code() {
        for k in ErrorKind::ALL {
            assert_eq!(kind(code(k)), k, "{k}");
        }
        let codes: std::collections::HashSet<i32> =
            ErrorKind::ALL.iter().map(|k| code(*k) as i32).collect();
        assert_eq!(codes.len(), ErrorKind::ALL.len(), "two kinds share a code");
    }

    #[test]
    fn other_codes_fold_into_a_kind() {
        assert_eq!(kind(Code::Aborted), ErrorKind::Conflict);
        assert_eq!(kind(Code::OutOfRange), ErrorKind::InvalidInput);
        assert_eq!(kind(Code::ResourceExhausted), ErrorKind::Unavailable);
        assert_eq!(kind(Code::Cancelled), ErrorKind::Unavailable);
        assert_eq!(kind(Code::Unknown), ErrorKind::Internal);
        assert_eq!(kind(Code::DataLoss), ErrorKind::Internal);
    }

    #[test]
    fn errors_round_trip_with_message_and_field() {
        for k in ErrorKind::ALL {
            let err = Error::new(k, "boom").with_field("labels.com.openfaas.scale.min");
            let back = from_status(&to_status(&err));
            assert_eq!(
                (back.kind(), back.message(), back.field()),
                (k, "boom", Some("labels.com.openfaas.scale.min"))
            );
        }
        let err = Error::invalid("envVars.ñ", "bad");
        assert_eq!(from_status(&to_status(&err)).field(), Some("envVars.ñ"));
        assert_eq!(
            from_status(&to_status(&Error::not_found("x"))).field(),
            None
        );
    }

    #[test]
    fn foreign_statuses_take_the_kind_from_the_code() {
        let err = Error::from(Status::new(Code::Unavailable, ""));
        assert_eq!(
            (err.kind(), err.message()),
            (
                ErrorKind::Unavailable,
                "The service is currently unavailable"
            )
        );
        let err = Error::from(Status::not_found("gone"));
        assert_eq!(
            (err.kind(), err.message(), err.field()),
            (ErrorKind::NotFound, "gone", None)
        );
    }
}
