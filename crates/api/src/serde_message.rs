//! serde's error messages read back into what they say (which field, what was wanted, what came),
//! so that problems can say it in the API's own words. serde words these few forms the same way
//! for every format (`serde::de::Error`'s provided methods), query strings and JSON alike.

/// What one of serde's messages says.
#[derive(Debug, PartialEq)]
pub(crate) enum SerdeMessage<'a> {
    /// `unknown field `x`, expected one of `a`, `b``: the field, and what was expected
    /// (backticks removed), if said.
    UnknownField {
        name: &'a str,
        expected: Option<String>,
    },
    /// `unknown variant `x`, expected `a` or `b``.
    UnknownVariant {
        name: &'a str,
        expected: Option<String>,
    },
    /// `missing field `x``.
    MissingField(&'a str),
    /// `duplicate field `x``.
    DuplicateField(&'a str),
    /// `invalid type: <got>, expected <wanted>` or `invalid value: …`.
    Invalid { got: &'a str, wanted: &'a str },
    /// Any other message.
    Other(&'a str),
}

/// Reads `message`.
pub(crate) fn read(message: &str) -> SerdeMessage<'_> {
    let named = |prefix: &str| {
        let (name, rest) = message.strip_prefix(prefix)?.split_once('`')?;
        let expected = rest
            .strip_prefix(", expected one of ")
            .or_else(|| rest.strip_prefix(", expected "))
            .map(|list| list.replace('`', ""));
        Some((name, expected))
    };
    if let Some((name, expected)) = named("unknown field `") {
        return SerdeMessage::UnknownField { name, expected };
    }
    if let Some((name, expected)) = named("unknown variant `") {
        return SerdeMessage::UnknownVariant { name, expected };
    }
    if let Some((name, _)) = named("missing field `") {
        return SerdeMessage::MissingField(name);
    }
    if let Some((name, _)) = named("duplicate field `") {
        return SerdeMessage::DuplicateField(name);
    }
    match message
        .strip_prefix("invalid type: ")
        .or_else(|| message.strip_prefix("invalid value: "))
        .and_then(|rest| rest.split_once(", expected "))
    {
        Some((got, wanted)) => SerdeMessage::Invalid { got, wanted },
        None => SerdeMessage::Other(message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_is_read() {
        assert_eq!(
            read("unknown field `foo`, expected one of `status`, `limit`"),
            SerdeMessage::UnknownField {
                name: "foo",
                expected: Some("status, limit".into())
            }
        );
        assert_eq!(
            read("unknown field `foo`, there are no fields"),
            SerdeMessage::UnknownField {
                name: "foo",
                expected: None
            }
        );
        assert_eq!(
            read("unknown variant `llm2`, expected `choice` or `llm`"),
            SerdeMessage::UnknownVariant {
                name: "llm2",
                expected: Some("choice or llm".into())
            }
        );
        assert_eq!(
            read("missing field `runIds`"),
            SerdeMessage::MissingField("runIds")
        );
        assert_eq!(
            read("duplicate field `limit`"),
            SerdeMessage::DuplicateField("limit")
        );
        assert_eq!(
            read("invalid type: floating point `2.5`, expected u32"),
            SerdeMessage::Invalid {
                got: "floating point `2.5`",
                wanted: "u32"
            }
        );
        assert_eq!(
            read("trailing characters"),
            SerdeMessage::Other("trailing characters")
        );
    }
}
