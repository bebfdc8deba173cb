//! `_Unwind_*`: images are built with panic=abort, but std's precompiled code still links
//! its unwinding and backtrace paths. Backtraces are empty; anything that would really
//! unwind stops the guest.
#![allow(non_snake_case)]

use core::ffi::{c_int, c_void};

/// `_URC_END_OF_STACK`.
const END_OF_STACK: c_int = 5;

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_Backtrace(_trace: *const c_void, _arg: *mut c_void) -> c_int {
    END_OF_STACK
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_RaiseException(_e: *mut c_void) -> c_int {
    END_OF_STACK
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_Resume(_e: *mut c_void) -> ! {
    crate::console::write_str("platform-hvt: _Unwind_Resume: unwinding is not supported\n");
    crate::abort()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_DeleteException(_e: *mut c_void) {}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetIP(_ctx: *mut c_void) -> usize {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
unsafe extern "C" fn _Unwind_GetIPInfo(_ctx: *mut c_void, before: *mut c_int) -> usize {
    if !before.is_null() {
        // SAFETY: the caller passes a writable int or null.
        unsafe { before.write(0) };
    }
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetCFA(_ctx: *mut c_void) -> usize {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetLanguageSpecificData(_ctx: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetRegionStart(_ctx: *mut c_void) -> usize {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetTextRelBase(_ctx: *mut c_void) -> usize {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_GetDataRelBase(_ctx: *mut c_void) -> usize {
    0
}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_SetGR(_ctx: *mut c_void, _reg: c_int, _value: usize) {}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_SetIP(_ctx: *mut c_void, _ip: usize) {}

#[cfg_attr(solo5_hvt, unsafe(no_mangle))]
extern "C" fn _Unwind_FindEnclosingFunction(_pc: *mut c_void) -> *mut c_void {
    core::ptr::null_mut()
}
