//! The session's requests once it is ready: REGISTER, system-table statements answered here,
//! and everything else handed to the shell to forward.

use bytes::Bytes;

use ringgate_protocol::frame::{Flags, Header};
use ringgate_protocol::message::ErrorDetails;
use ringgate_protocol::message::{
    Execute, Prepare, Query, Register, Response, Values, peek, split_request_body,
};
use ringgate_protocol::{Opcode, ProtocolVersion};

use super::event::{ForwardRequest, SessionEvent};
use super::served_tables::{Answer, might_be_system_select};
use super::session::ServerSession;

impl ServerSession {
    /// Handles a request on a ready connection.
    pub(crate) fn on_request(&mut self, header: Header, body: Bytes) {
        if self.use_pending.is_some() {
            return self.hold(header, body);
        }
        let stream = header.stream;
        let version = self.version.unwrap_or(ProtocolVersion::V5);
        let message = match split_request_body(&body, header.flags.contains(Flags::CUSTOM_PAYLOAD))
        {
            Ok((_, message)) => message,
            Err(e) => {
                return self.protocol_error(
                    stream,
                    format!("Invalid {} message: {e}", header.opcode.name()),
                );
            }
        };
        let answer = match header.opcode {
            Opcode::Register => return self.on_register(stream, &message),
            Opcode::Query => self.system_query(&message, version),
            Opcode::Prepare => self.system_prepare(&message, version),
            Opcode::Execute => self.system_execute(&message, version),
            _ => Ok(Answer::Forward),
        };
        match answer {
            Ok(Answer::Forward) => {
                let switches = header.opcode == Opcode::Query
                    && peek::query(&message, version)
                        .is_ok_and(|q| crate::cql::starts_with_use(q.query));
                if self.forward(header, body) && switches {
                    self.use_pending = Some(stream);
                }
            }
            Ok(Answer::Result(result)) => self.send(stream, &Response::Result(result)),
            Ok(Answer::Error(error)) => self.send(stream, &Response::Error(error)),
            Err(e) => self.protocol_error(
                stream,
                format!("Invalid {} message: {e}", header.opcode.name()),
            ),
        }
    }

    fn on_register(&mut self, stream: i16, message: &Bytes) {
        match Register::decode(message) {
            Ok(register) => {
                for event in register.events {
                    if !self.registered.contains(&event) {
                        self.registered.push(event);
                    }
                }
                self.send(stream, &Response::Ready);
                self.events
                    .push_back(SessionEvent::Registered(self.registered.clone()));
            }
            Err(e) => self.protocol_error(stream, format!("Invalid REGISTER message: {e}")),
        }
    }

    fn system_query(
        &self,
        message: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Answer, ringgate_protocol::primitives::DecodeError> {
        let text = peek::query(message, version)?.query;
        if !might_be_system_select(text) {
            return Ok(Answer::Forward);
        }
        let query = Query::decode(message, version)?;
        let keyspace = query
            .params
            .keyspace
            .as_deref()
            .or(self.keyspace.as_deref());
        Ok(self
            .config
            .system
            .query(&query.query, keyspace, &query.params.values, version))
    }

    fn system_prepare(
        &self,
        message: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Answer, ringgate_protocol::primitives::DecodeError> {
        let prepare = Prepare::decode(message, version)?;
        if !might_be_system_select(&prepare.query) {
            return Ok(Answer::Forward);
        }
        let keyspace = prepare.keyspace.as_deref().or(self.keyspace.as_deref());
        Ok(self
            .config
            .system
            .prepare(&prepare.query, keyspace, version))
    }

    fn system_execute(
        &self,
        message: &Bytes,
        version: ProtocolVersion,
    ) -> Result<Answer, ringgate_protocol::primitives::DecodeError> {
        let id = peek::execute(message, version)?.id;
        if !self.config.system.is_prepared(id) {
            return Ok(Answer::Forward);
        }
        let execute = Execute::decode(message, version)?;
        let values: &Values = &execute.params.values;
        Ok(self
            .config
            .system
            .execute(&execute.id, values, execute.params.skip_metadata, version))
    }

    /// Keeps a request until the pending `USE` is answered, unless the connection has too
    /// many waiting.
    fn hold(&mut self, header: Header, body: Bytes) {
        if self.in_flight.saturating_add(self.held.len()) >= self.config.max_in_flight {
            return self.overloaded(header.stream);
        }
        self.held.push_back((header, body));
    }

    /// Handles the held requests in order, once the `USE` before them is answered; stops at
    /// a `USE` among them, whose answer releases the rest.
    pub(crate) fn release_held(&mut self) {
        while self.use_pending.is_none() {
            let Some((header, body)) = self.held.pop_front() else {
                return;
            };
            self.on_request(header, body);
        }
    }

    fn overloaded(&mut self, stream: i16) {
        self.error(
            stream,
            ErrorDetails::Overloaded,
            format!(
                "Too many requests in flight on this connection (limit {})",
                self.config.max_in_flight
            ),
        );
    }

    /// Hands a request to the shell, unless the connection has too many waiting. Returns
    /// whether it was handed over.
    fn forward(&mut self, header: Header, body: Bytes) -> bool {
        if self.in_flight.saturating_add(self.held.len()) >= self.config.max_in_flight {
            self.overloaded(header.stream);
            return false;
        }
        self.in_flight = self.in_flight.saturating_add(1);
        self.events.push_back(SessionEvent::Request(ForwardRequest {
            stream: header.stream,
            version: header.version,
            opcode: header.opcode,
            flags: header.flags.without(Flags::COMPRESSION),
            body,
            keyspace: self.keyspace.clone(),
            identity: self.identity.clone(),
        }));
        true
    }
}
