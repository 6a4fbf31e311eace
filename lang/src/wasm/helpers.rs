//! The small library functions every module carries: byte comparison,
//! version comparison, the DFA walk, and set membership. Each is a plain
//! loop over linear memory; any out-of-bounds pointer traps, which the host
//! treats as a module failure.

use ward_sdk::{IP_ENTRY_FAMILY, IP_ENTRY_SIZE, IP_ENTRY_V4, IP_ENTRY_V6_HI, IP_ENTRY_V6_LO};
use wasm_encoder::{BlockType, Function, InstructionSink, MemArg, ValType};

pub(super) fn mem(offset: u32, align: u32) -> MemArg {
    MemArg {
        offset: u64::from(offset),
        align,
        memory_index: 0,
    }
}

/// Finishes a function from its raw body bytes.
pub(super) fn function(locals: &[ValType], body: &[u8]) -> Function {
    let mut f = Function::new_with_locals_types(locals.iter().copied());
    f.raw(body.iter().copied());
    f.instructions().end();
    f
}

/// `bytes_eq(a, b, n) -> i32`: whether `n` bytes at `a` and `b` are equal.
pub(super) fn bytes_eq() -> Function {
    let (a, b, n, i) = (0, 1, 2, 3);
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    s.block(BlockType::Empty).loop_(BlockType::Empty);
    s.local_get(i).local_get(n).i32_ge_u().br_if(1);
    s.local_get(a).local_get(i).i32_add().i32_load8_u(mem(0, 0));
    s.local_get(b).local_get(i).i32_add().i32_load8_u(mem(0, 0));
    s.i32_ne()
        .if_(BlockType::Empty)
        .i32_const(0)
        .return_()
        .end();
    s.local_get(i).i32_const(1).i32_add().local_set(i).br(0);
    s.end().end();
    s.i32_const(1);
    function(&[ValType::I32], &body)
}

/// `version_cmp(a, an, b, bn) -> i32`: -1, 0 or 1, comparing the u64
/// parts at `a` and `b` numerically; missing parts count as zero.
pub(super) fn version_cmp() -> Function {
    let (a, an, b, bn, i, len, x, y) = (0, 1, 2, 3, 4, 5, 6, 7);
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    s.local_get(an)
        .local_get(bn)
        .local_get(an)
        .local_get(bn)
        .i32_gt_u();
    s.select().local_set(len);
    s.block(BlockType::Empty).loop_(BlockType::Empty);
    s.local_get(i).local_get(len).i32_ge_u().br_if(1);
    for (ptr, n, out) in [(a, an, x), (b, bn, y)] {
        s.local_get(i)
            .local_get(n)
            .i32_lt_u()
            .if_(BlockType::Result(ValType::I64));
        s.local_get(ptr)
            .local_get(i)
            .i32_const(3)
            .i32_shl()
            .i32_add();
        s.i64_load(mem(0, 3));
        s.else_().i64_const(0).end().local_set(out);
    }
    s.local_get(x).local_get(y).i64_lt_u();
    s.if_(BlockType::Empty).i32_const(-1).return_().end();
    s.local_get(x).local_get(y).i64_gt_u();
    s.if_(BlockType::Empty).i32_const(1).return_().end();
    s.local_get(i).i32_const(1).i32_add().local_set(i).br(0);
    s.end().end();
    s.i32_const(0);
    function(
        &[ValType::I32, ValType::I32, ValType::I64, ValType::I64],
        &body,
    )
}

/// `dfa_walk(ptr, len, table, accept, classes, fold) -> i32`: runs the
/// glob DFA at `table` (class map, then u16 transitions) over the subject.
pub(super) fn dfa_walk() -> Function {
    let (ptr, len, table, accept, classes, fold, state, i, byte) = (0, 1, 2, 3, 4, 5, 6, 7, 8);
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    s.i32_const(1).local_set(state);
    s.block(BlockType::Empty).loop_(BlockType::Empty);
    s.local_get(i).local_get(len).i32_ge_u().br_if(1);
    s.local_get(ptr)
        .local_get(i)
        .i32_add()
        .i32_load8_u(mem(0, 0))
        .local_set(byte);

    // Lower ASCII letters when the globs fold case.
    s.local_get(fold);
    s.local_get(byte)
        .i32_const(65)
        .i32_sub()
        .i32_const(26)
        .i32_lt_u();
    s.i32_and().if_(BlockType::Empty);
    s.local_get(byte).i32_const(32).i32_add().local_set(byte);
    s.end();

    // state = next[state * classes + class[byte]]
    s.local_get(table);
    s.local_get(state).local_get(classes).i32_mul();
    s.local_get(table)
        .local_get(byte)
        .i32_add()
        .i32_load8_u(mem(0, 0));
    s.i32_add().i32_const(1).i32_shl().i32_add();
    s.i32_load16_u(mem(256, 1)).local_tee(state);
    s.i32_eqz()
        .if_(BlockType::Empty)
        .i32_const(0)
        .return_()
        .end();
    s.local_get(i).i32_const(1).i32_add().local_set(i).br(0);
    s.end().end();
    s.local_get(accept)
        .local_get(state)
        .i32_add()
        .i32_load8_u(mem(0, 0));
    function(&[ValType::I32, ValType::I32, ValType::I32], &body)
}

/// `str_set_has(set, count, lit, len) -> i32`: whether the string set
/// holds the literal. `bytes_eq` is function `bytes_eq_index`.
pub(super) fn str_set_has(bytes_eq_index: u32) -> Function {
    let (set, count, lit, len, i, entry) = (0, 1, 2, 3, 4, 5);
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    s.block(BlockType::Empty).loop_(BlockType::Empty);
    s.local_get(i).local_get(count).i32_ge_u().br_if(1);
    s.local_get(set)
        .local_get(i)
        .i32_const(3)
        .i32_shl()
        .i32_add()
        .local_set(entry);
    s.local_get(entry)
        .i32_load(mem(4, 2))
        .local_get(len)
        .i32_eq();
    s.if_(BlockType::Empty);
    s.local_get(entry)
        .i32_load(mem(0, 2))
        .local_get(lit)
        .local_get(len);
    s.call(bytes_eq_index)
        .if_(BlockType::Empty)
        .i32_const(1)
        .return_()
        .end();
    s.end();
    s.local_get(i).i32_const(1).i32_add().local_set(i).br(0);
    s.end().end();
    s.i32_const(0);
    function(&[ValType::I32, ValType::I32], &body)
}

/// `ip_set_has(set, count, family, v4, hi, lo) -> i32`: whether the
/// address set holds the address.
pub(super) fn ip_set_has() -> Function {
    let (set, count, family, v4, hi, lo, i, entry) = (0, 1, 2, 3, 4, 5, 6, 7);
    let mut body = Vec::new();
    let mut s = InstructionSink::new(&mut body);
    s.block(BlockType::Empty).loop_(BlockType::Empty);
    s.local_get(i).local_get(count).i32_ge_u().br_if(1);
    s.local_get(set)
        .local_get(i)
        .i32_const(IP_ENTRY_SIZE as i32)
        .i32_mul();
    s.i32_add().local_set(entry);
    s.local_get(entry)
        .i32_load(mem(IP_ENTRY_FAMILY, 2))
        .local_get(family)
        .i32_eq();
    s.if_(BlockType::Empty);
    s.local_get(family).i32_const(4).i32_eq();
    s.if_(BlockType::Result(ValType::I32));
    s.local_get(entry)
        .i32_load(mem(IP_ENTRY_V4, 2))
        .local_get(v4)
        .i32_eq();
    s.else_();
    s.local_get(entry)
        .i64_load(mem(IP_ENTRY_V6_HI, 3))
        .local_get(hi)
        .i64_eq();
    s.local_get(entry)
        .i64_load(mem(IP_ENTRY_V6_LO, 3))
        .local_get(lo)
        .i64_eq();
    s.i32_and();
    s.end();
    s.if_(BlockType::Empty).i32_const(1).return_().end();
    s.end();
    s.local_get(i).i32_const(1).i32_add().local_set(i).br(0);
    s.end().end();
    s.i32_const(0);
    function(&[ValType::I32, ValType::I32], &body)
}
