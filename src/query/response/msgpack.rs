//! MessagePack as InfluxDB 1.x's `msgpackFormatter` writes it with tinylib/msgp: the smallest
//! signed encoding for integers (positive ones too), float64 always, times as extension type 5
//! (int64 seconds, int32 nanoseconds, big-endian) unless `epoch` turns them into integers. A
//! failed statement is `{"error": ...}` without its id; `series` is always present otherwise.

use super::{Doc, Value, epoch_time};
use crate::query::params::Epoch;

pub(crate) struct MsgPack {
    pub buf: Vec<u8>,
}

impl MsgPack {
    fn map(&mut self, n: usize) {
        if n < 16 {
            self.buf.push(0x80 | n as u8);
        } else if n <= u16::MAX as usize {
            self.buf.push(0xde);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.buf.push(0xdf);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    fn array(&mut self, n: usize) {
        if n < 16 {
            self.buf.push(0x90 | n as u8);
        } else if n <= u16::MAX as usize {
            self.buf.push(0xdc);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.buf.push(0xdd);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
    }

    fn string(&mut self, s: &str) {
        let n = s.len();
        if n < 32 {
            self.buf.push(0xa0 | n as u8);
        } else if n <= u8::MAX as usize {
            self.buf.push(0xd9);
            self.buf.push(n as u8);
        } else if n <= u16::MAX as usize {
            self.buf.push(0xda);
            self.buf.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            self.buf.push(0xdb);
            self.buf.extend_from_slice(&(n as u32).to_be_bytes());
        }
        self.buf.extend_from_slice(s.as_bytes());
    }

    fn int(&mut self, i: i64) {
        if i >= 0 {
            if i <= i64::from(i8::MAX) {
                self.buf.push(i as u8);
            } else if i <= i64::from(i16::MAX) {
                self.buf.push(0xd1);
                self.buf.extend_from_slice(&(i as u16).to_be_bytes());
            } else if i <= i64::from(i32::MAX) {
                self.buf.push(0xd2);
                self.buf.extend_from_slice(&(i as u32).to_be_bytes());
            } else {
                self.buf.push(0xd3);
                self.buf.extend_from_slice(&(i as u64).to_be_bytes());
            }
        } else if i >= -32 {
            self.buf.push(i as i8 as u8);
        } else if i >= i64::from(i8::MIN) {
            self.buf.push(0xd0);
            self.buf.push(i as i8 as u8);
        } else if i >= i64::from(i16::MIN) {
            self.buf.push(0xd1);
            self.buf.extend_from_slice(&(i as i16).to_be_bytes());
        } else if i >= i64::from(i32::MIN) {
            self.buf.push(0xd2);
            self.buf.extend_from_slice(&(i as i32).to_be_bytes());
        } else {
            self.buf.push(0xd3);
            self.buf.extend_from_slice(&i.to_be_bytes());
        }
    }

    fn uint(&mut self, u: u64) {
        if u <= 0x7f {
            self.buf.push(u as u8);
        } else if u <= u64::from(u8::MAX) {
            self.buf.push(0xcc);
            self.buf.push(u as u8);
        } else if u <= u64::from(u16::MAX) {
            self.buf.push(0xcd);
            self.buf.extend_from_slice(&(u as u16).to_be_bytes());
        } else if u <= u64::from(u32::MAX) {
            self.buf.push(0xce);
            self.buf.extend_from_slice(&(u as u32).to_be_bytes());
        } else {
            self.buf.push(0xcf);
            self.buf.extend_from_slice(&u.to_be_bytes());
        }
    }

    fn bool(&mut self, b: bool) {
        self.buf.push(if b { 0xc3 } else { 0xc2 });
    }

    fn time(&mut self, ns: i64) {
        let secs = ns.div_euclid(1_000_000_000);
        let nanos = ns.rem_euclid(1_000_000_000) as i32;
        self.buf.extend_from_slice(&[0xc7, 12, 5]);
        self.buf.extend_from_slice(&secs.to_be_bytes());
        self.buf.extend_from_slice(&nanos.to_be_bytes());
    }

    fn value(&mut self, v: &Value, epoch: Option<Epoch>) {
        match v {
            Value::Null => self.buf.push(0xc0),
            Value::Float(f) => {
                self.buf.push(0xcb);
                self.buf.extend_from_slice(&f.to_bits().to_be_bytes());
            }
            Value::Integer(i) => self.int(*i),
            Value::Unsigned(u) => self.uint(*u),
            Value::String(s) => self.string(s),
            Value::Boolean(b) => self.bool(*b),
            Value::Time(ns) => match epoch {
                Some(e) => self.int(epoch_time(*ns, e)),
                None => self.time(*ns),
            },
        }
    }
}

pub(crate) fn render(doc: &Doc<'_>, epoch: Option<Epoch>) -> Vec<u8> {
    let mut w = MsgPack {
        buf: Vec::with_capacity(256),
    };
    w.map(1);
    let results = match doc {
        Doc::Error(msg) => {
            w.string("error");
            w.string(msg);
            return w.buf;
        }
        Doc::Results(r) => r,
    };
    w.string("results");
    w.array(results.len());
    for r in results {
        if let Some(e) = r.error {
            w.map(1);
            w.string("error");
            w.string(e);
            continue;
        }
        w.map(2 + usize::from(r.partial));
        w.string("statement_id");
        w.int(r.statement_id as i64);
        w.string("series");
        w.array(r.series.len());
        for s in &r.series {
            let tags = s.sorted_tags();
            let name = !s.series.name.is_empty();
            w.map(2 + usize::from(name) + usize::from(!tags.is_empty()) + usize::from(s.partial));
            if name {
                w.string("name");
                w.string(&s.series.name);
            }
            if !tags.is_empty() {
                w.string("tags");
                w.map(tags.len());
                for (k, v) in tags {
                    w.string(k);
                    w.string(v);
                }
            }
            w.string("columns");
            w.array(s.series.columns.len());
            for c in &s.series.columns {
                w.string(c);
            }
            w.string("values");
            let values = s.values();
            w.array(values.len());
            for row in values {
                w.array(row.len());
                for v in row {
                    w.value(v, epoch);
                }
            }
            if s.partial {
                w.string("partial");
                w.bool(true);
            }
        }
        if r.partial {
            w.string("partial");
            w.bool(true);
        }
    }
    w.buf
}
