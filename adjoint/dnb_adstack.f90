! The push/pop stack that the Tapenade-generated reverse code (adjoint/generated/dnb_ad.f90)
! calls. The generated code calls PUSH*/POP* as external subroutines with implicit
! interfaces, so those are plain external subroutines below; the storage and the queries
! live in the module dnb_adstack.
!
! One LIFO stack per kind of value: 8-byte reals, 4-byte reals, 4-byte integers, logicals
! and control values (branch numbers, one byte each). The reverse sweep pops every kind in
! exactly the reverse order in which the forward sweep pushed it, so separate stacks are
! equivalent to one interleaved stack. The 8-byte-real stack, which holds nearly all of the
! payload (hundreds of MB for a multi-year site run), is a chain of blocks of doubling size
! (64 Ki, 128 Ki, ... values): when one is full the next is attached, so nothing is ever
! copied and memory is touched only as far as it is used. The small stacks are single
! buffers that double when full. All storage is kept between runs (adstack_reset empties
! the stacks, adstack_release frees them). Scalar pushes and pops, by far the most
! frequent calls, take a short path: one bounds check, one store; build files compile this
! file in one unit with the generated code so that the short path is inlined there.
!
! Queries for tests and benchmarks: adstack_peak_bytes (sum over the stacks of their
! high-water marks since the last reset: an upper bound of the largest payload held),
! adstack_used_bytes (payload now; 0 after a complete adjoint run), adstack_error (0 ok,
! 1 a pop from an empty stack, 2 an allocation failed). Not thread-safe: one stack per
! process.
module dnb_adstack
  use iso_fortran_env, only: real64, real32, int8, int32, int64
  implicit none
  private
  public :: adstack_reset, adstack_release, adstack_peak_bytes, adstack_used_bytes, &
            adstack_error
  public :: push1_r8, pop1_r8, push_r8, pop_r8, push_r4, pop_r4, push_i4, pop_i4, &
            push_l, pop_l, push_c, pop_c
  ! the scalar and control entry points below use the storage directly (their fast path)
  public :: buf_r8, n_r8, lo_r8, cap_r8, hw_r8, buf_c, n_c, cap_c, hw_c, buf_i4, n_i4, &
            cap_i4, hw_i4
  public :: push1_r8_slow, pop1_r8_slow, push_c_slow, pop_c_slow

  integer(int64), parameter :: first_size = 65536

  ! 8-byte reals: block k holds first_size * 2**(k-1) values, those with stack positions
  ! lo(k)+1 .. lo(k)+size, lo(k) = first_size * (2**(k-1) - 1), which are its bounds.
  ! The current block cur_r8 (positions lo_r8+1 .. cap_r8) is moved into buf_r8 (a move of
  ! the allocation, no copy); the others wait in blk_r8.
  integer, parameter :: max_blocks = 40
  type :: block_r8
    real(real64), allocatable :: a(:)
  end type block_r8
  type(block_r8), save :: blk_r8(max_blocks)
  integer, save :: cur_r8 = 0
  real(real64), allocatable, save :: buf_r8(:)
  integer(int64), save :: lo_r8 = 0
  real(real32), allocatable, save :: buf_r4(:)
  integer(int32), allocatable, save :: buf_i4(:)
  logical, allocatable, save :: buf_l(:)
  integer(int8), allocatable, save :: buf_c(:)
  ! fill level, capacity and high-water mark of each stack
  integer(int64), save :: n_r8 = 0, n_r4 = 0, n_i4 = 0, n_l = 0, n_c = 0
  integer(int64), save :: cap_r8 = 0, cap_r4 = 0, cap_i4 = 0, cap_l = 0, cap_c = 0
  integer(int64), save :: hw_r8 = 0, hw_r4 = 0, hw_i4 = 0, hw_l = 0, hw_c = 0
  integer, save :: status = 0

  ! The slow paths of the scalar entry points (attach or detach a block, grow a buffer) are
  ! called through these procedure pointers, which the compiler cannot resolve, so that it
  ! does not inline them into the fast paths: inlined (at -O3 it inlined push1_r8 and
  ! use_block_r8 into pushreal8), they made every push save and restore six registers, and
  ! the fast path too long to be inlined into the reverse code (docs/performance.md).
  abstract interface
    subroutine r8_in(x)
      import :: real64
      real(real64), intent(in) :: x
    end subroutine r8_in
    subroutine r8_out(x)
      import :: real64
      real(real64), intent(out) :: x
    end subroutine r8_out
    subroutine int_in(c)
      integer, intent(in) :: c
    end subroutine int_in
    subroutine int_out(c)
      integer, intent(out) :: c
    end subroutine int_out
  end interface
  procedure(r8_in), pointer, save :: push1_r8_slow => push1_r8
  procedure(r8_out), pointer, save :: pop1_r8_slow => pop1_r8
  procedure(int_in), pointer, save :: push_c_slow => push_c
  procedure(int_out), pointer, save :: pop_c_slow => pop_c

contains

  ! Empty all stacks and restart the peak count; buffers are kept for the next run.
  subroutine adstack_reset()
    call adstack_reset_r8()
    n_r4 = 0
    n_i4 = 0
    n_l = 0
    n_c = 0
    hw_r8 = 0
    hw_r4 = 0
    hw_i4 = 0
    hw_l = 0
    hw_c = 0
    status = 0
  end subroutine adstack_reset

  ! Empty all stacks and free their memory.
  subroutine adstack_release()
    integer :: k
    call adstack_reset()
    if (allocated(buf_r8)) deallocate(buf_r8)
    do k = 1, max_blocks
      if (allocated(blk_r8(k)%a)) deallocate(blk_r8(k)%a)
    end do
    if (allocated(buf_r4)) deallocate(buf_r4)
    if (allocated(buf_i4)) deallocate(buf_i4)
    if (allocated(buf_l)) deallocate(buf_l)
    if (allocated(buf_c)) deallocate(buf_c)
    cap_r4 = 0
    cap_i4 = 0
    cap_l = 0
    cap_c = 0
  end subroutine adstack_release

  ! Peak payload since the last reset (bytes; sum of the stacks' high-water marks).
  subroutine adstack_peak_bytes(nbytes)
    integer(int64), intent(out) :: nbytes
    nbytes = 8 * hw_r8 + 4 * hw_r4 + 4 * hw_i4 + 4 * hw_l + hw_c
  end subroutine adstack_peak_bytes

  ! Payload held now (bytes).
  subroutine adstack_used_bytes(nbytes)
    integer(int64), intent(out) :: nbytes
    nbytes = 8 * n_r8 + 4 * n_r4 + 4 * n_i4 + 4 * n_l + n_c
  end subroutine adstack_used_bytes

  ! 0 ok; 1 a pop found its stack empty (pushes and pops unbalanced); 2 allocation failed.
  subroutine adstack_error(ierr)
    integer, intent(out) :: ierr
    ierr = status
  end subroutine adstack_error

  ! New capacity for at least need elements: double, starting at first_size.
  pure integer(int64) function grown(cap, need)
    integer(int64), intent(in) :: cap, need
    grown = max(first_size, 2 * cap)
    do while (grown < need)
      grown = 2 * grown
    end do
  end function grown

  ! Make block k of the 8-byte-real stack the current one (allocating it on first use);
  ! false (and status 2) if it cannot be allocated.
  logical function use_block_r8(k) result(ok)
    integer, intent(in) :: k
    integer(int64) :: lo
    integer :: ierr
    ok = .false.
    if (k < 1 .or. k > max_blocks) then
      status = 2
      return
    end if
    lo = first_size * (2_int64**(k - 1) - 1)
    if (.not. allocated(blk_r8(k)%a)) then
      allocate(blk_r8(k)%a(lo + 1:lo + first_size * 2_int64**(k - 1)), stat=ierr)
      if (ierr /= 0) then
        status = 2
        return
      end if
    end if
    call park_r8()
    call move_alloc(blk_r8(k)%a, buf_r8)
    cur_r8 = k
    lo_r8 = lo
    cap_r8 = ubound(buf_r8, 1, kind=int64)
    ok = .true.
  end function use_block_r8

  ! Put the current block back with the others.
  subroutine park_r8()
    if (cur_r8 > 0) call move_alloc(buf_r8, blk_r8(cur_r8)%a)
    cur_r8 = 0
  end subroutine park_r8

  ! Growth of each small stack's buffer to hold need elements (keeping the first n);
  ! status 2 on failure.
  subroutine grow_r4(need)
    integer(int64), intent(in) :: need
    real(real32), allocatable :: tmp(:)
    integer :: ierr
    allocate(tmp(grown(cap_r4, need)), stat=ierr)
    if (ierr /= 0) then
      status = 2
      return
    end if
    if (n_r4 > 0) tmp(1:n_r4) = buf_r4(1:n_r4)
    call move_alloc(tmp, buf_r4)
    cap_r4 = size(buf_r4, kind=int64)
  end subroutine grow_r4

  subroutine grow_i4(need)
    integer(int64), intent(in) :: need
    integer(int32), allocatable :: tmp(:)
    integer :: ierr
    allocate(tmp(grown(cap_i4, need)), stat=ierr)
    if (ierr /= 0) then
      status = 2
      return
    end if
    if (n_i4 > 0) tmp(1:n_i4) = buf_i4(1:n_i4)
    call move_alloc(tmp, buf_i4)
    cap_i4 = size(buf_i4, kind=int64)
  end subroutine grow_i4

  subroutine grow_l(need)
    integer(int64), intent(in) :: need
    logical, allocatable :: tmp(:)
    integer :: ierr
    allocate(tmp(grown(cap_l, need)), stat=ierr)
    if (ierr /= 0) then
      status = 2
      return
    end if
    if (n_l > 0) tmp(1:n_l) = buf_l(1:n_l)
    call move_alloc(tmp, buf_l)
    cap_l = size(buf_l, kind=int64)
  end subroutine grow_l

  subroutine grow_c(need)
    integer(int64), intent(in) :: need
    integer(int8), allocatable :: tmp(:)
    integer :: ierr
    allocate(tmp(grown(cap_c, need)), stat=ierr)
    if (ierr /= 0) then
      status = 2
      return
    end if
    if (n_c > 0) tmp(1:n_c) = buf_c(1:n_c)
    call move_alloc(tmp, buf_c)
    cap_c = size(buf_c, kind=int64)
  end subroutine grow_c

  ! One value onto the 8-byte-real stack, moving on to the next block when this one is full.
  subroutine push1_r8(x)
    real(real64), intent(in) :: x
    if (n_r8 >= cap_r8) then
      if (.not. use_block_r8(cur_r8 + 1)) return
    end if
    n_r8 = n_r8 + 1
    buf_r8(n_r8) = x
    if (n_r8 > hw_r8) hw_r8 = n_r8
  end subroutine push1_r8

  ! One value off the 8-byte-real stack, moving back to the previous block when this one is
  ! empty; status 1 if the stack is empty.
  subroutine pop1_r8(x)
    real(real64), intent(out) :: x
    if (n_r8 <= lo_r8) then
      if (n_r8 < 1) then
        status = 1
        x = 0._real64
        return
      end if
      if (.not. use_block_r8(cur_r8 - 1)) then
        x = 0._real64
        return
      end if
    end if
    x = buf_r8(n_r8)
    n_r8 = n_r8 - 1
  end subroutine pop1_r8

  subroutine push_r8(x, n)
    integer(int64), intent(in) :: n
    real(real64), intent(in) :: x(n)
    integer(int64) :: i
    if (n < 1) return
    if (n_r8 + n <= cap_r8) then
      buf_r8(n_r8 + 1:n_r8 + n) = x
      n_r8 = n_r8 + n
      if (n_r8 > hw_r8) hw_r8 = n_r8
    else
      do i = 1, n                     ! across a block boundary
        call push1_r8(x(i))
      end do
    end if
  end subroutine push_r8

  subroutine pop_r8(x, n)
    integer(int64), intent(in) :: n
    real(real64), intent(out) :: x(n)
    integer(int64) :: i
    if (n < 1) return
    if (n > n_r8) then
      status = 1
      x = 0._real64
      call adstack_reset_r8()
      return
    end if
    if (n_r8 - n >= lo_r8) then
      x = buf_r8(n_r8 - n + 1:n_r8)
      n_r8 = n_r8 - n
    else
      do i = n, 1, -1                 ! across a block boundary
        call pop1_r8(x(i))
      end do
    end if
  end subroutine pop_r8

  ! Empty the 8-byte-real stack (after an unbalanced pop).
  subroutine adstack_reset_r8()
    call park_r8()
    n_r8 = 0
    lo_r8 = 0
    cap_r8 = 0
  end subroutine adstack_reset_r8

  subroutine push_r4(x, n)
    integer(int64), intent(in) :: n
    real(real32), intent(in) :: x(n)
    if (n_r4 + n > cap_r4) then
      call grow_r4(n_r4 + n)
      if (status == 2) return
    end if
    buf_r4(n_r4 + 1:n_r4 + n) = x
    n_r4 = n_r4 + n
    if (n_r4 > hw_r4) hw_r4 = n_r4
  end subroutine push_r4

  subroutine pop_r4(x, n)
    integer(int64), intent(in) :: n
    real(real32), intent(out) :: x(n)
    if (n > n_r4) then
      status = 1
      x = 0._real32
      n_r4 = 0
      return
    end if
    x = buf_r4(n_r4 - n + 1:n_r4)
    n_r4 = n_r4 - n
  end subroutine pop_r4

  subroutine push_i4(x, n)
    integer(int64), intent(in) :: n
    integer(int32), intent(in) :: x(n)
    if (n_i4 + n > cap_i4) then
      call grow_i4(n_i4 + n)
      if (status == 2) return
    end if
    buf_i4(n_i4 + 1:n_i4 + n) = x
    n_i4 = n_i4 + n
    if (n_i4 > hw_i4) hw_i4 = n_i4
  end subroutine push_i4

  subroutine pop_i4(x, n)
    integer(int64), intent(in) :: n
    integer(int32), intent(out) :: x(n)
    if (n > n_i4) then
      status = 1
      x = 0
      n_i4 = 0
      return
    end if
    x = buf_i4(n_i4 - n + 1:n_i4)
    n_i4 = n_i4 - n
  end subroutine pop_i4

  subroutine push_l(x)
    logical, intent(in) :: x
    if (n_l >= cap_l) then
      call grow_l(n_l + 1)
      if (status == 2) return
    end if
    n_l = n_l + 1
    buf_l(n_l) = x
    if (n_l > hw_l) hw_l = n_l
  end subroutine push_l

  subroutine pop_l(x)
    logical, intent(out) :: x
    if (n_l < 1) then
      status = 1
      x = .false.
      return
    end if
    x = buf_l(n_l)
    n_l = n_l - 1
  end subroutine pop_l

  ! Control value c (a branch number, 0 <= c < 256) as one byte.
  subroutine push_c(c)
    integer, intent(in) :: c
    if (n_c >= cap_c) then
      call grow_c(n_c + 1)
      if (status == 2) return
    end if
    n_c = n_c + 1
    buf_c(n_c) = int(c, int8)
    if (n_c > hw_c) hw_c = n_c
  end subroutine push_c

  subroutine pop_c(c)
    integer, intent(out) :: c
    if (n_c < 1) then
      status = 1
      c = 0
      return
    end if
    c = int(buf_c(n_c))
    n_c = n_c - 1
  end subroutine pop_c

end module dnb_adstack

! ---- external entry points called by the generated reverse code ----------------------

subroutine pushreal8(x)
  use dnb_adstack, only: buf_r8, n_r8, cap_r8, hw_r8, push1_r8_slow
  use iso_fortran_env, only: real64
  implicit none
  real(real64), intent(in) :: x
  if (n_r8 < cap_r8) then
    n_r8 = n_r8 + 1
    buf_r8(n_r8) = x
    if (n_r8 > hw_r8) hw_r8 = n_r8
  else
    call push1_r8_slow(x)
  end if
end subroutine pushreal8

subroutine popreal8(x)
  use dnb_adstack, only: buf_r8, n_r8, lo_r8, pop1_r8_slow
  use iso_fortran_env, only: real64
  implicit none
  real(real64), intent(out) :: x
  if (n_r8 > lo_r8) then
    x = buf_r8(n_r8)
    n_r8 = n_r8 - 1
  else
    call pop1_r8_slow(x)
  end if
end subroutine popreal8

subroutine pushreal8array(x, n)
  use dnb_adstack, only: push_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  integer, intent(in) :: n
  real(real64), intent(in) :: x(n)
  call push_r8(x, int(n, int64))
end subroutine pushreal8array

subroutine popreal8array(x, n)
  use dnb_adstack, only: pop_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  integer, intent(in) :: n
  real(real64), intent(out) :: x(n)
  call pop_r8(x, int(n, int64))
end subroutine popreal8array

subroutine pushreal4(x)
  use dnb_adstack, only: push_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  real(real32), intent(in) :: x
  real(real32) :: a(1)
  a(1) = x
  call push_r4(a, 1_int64)
end subroutine pushreal4

subroutine popreal4(x)
  use dnb_adstack, only: pop_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  real(real32), intent(out) :: x
  real(real32) :: a(1)
  call pop_r4(a, 1_int64)
  x = a(1)
end subroutine popreal4

subroutine pushreal4array(x, n)
  use dnb_adstack, only: push_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  integer, intent(in) :: n
  real(real32), intent(in) :: x(n)
  call push_r4(x, int(n, int64))
end subroutine pushreal4array

subroutine popreal4array(x, n)
  use dnb_adstack, only: pop_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  integer, intent(in) :: n
  real(real32), intent(out) :: x(n)
  call pop_r4(x, int(n, int64))
end subroutine popreal4array

subroutine pushinteger4(i)
  use dnb_adstack, only: buf_i4, n_i4, cap_i4, hw_i4, push_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer(int32), intent(in) :: i
  integer(int32) :: a(1)
  if (n_i4 < cap_i4) then
    n_i4 = n_i4 + 1
    buf_i4(n_i4) = i
    if (n_i4 > hw_i4) hw_i4 = n_i4
  else
    a(1) = i
    call push_i4(a, 1_int64)
  end if
end subroutine pushinteger4

subroutine popinteger4(i)
  use dnb_adstack, only: buf_i4, n_i4, pop_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer(int32), intent(out) :: i
  integer(int32) :: a(1)
  if (n_i4 > 0) then
    i = buf_i4(n_i4)
    n_i4 = n_i4 - 1
  else
    call pop_i4(a, 1_int64)
    i = a(1)
  end if
end subroutine popinteger4

subroutine pushinteger4array(x, n)
  use dnb_adstack, only: push_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(in) :: x(n)
  call push_i4(x, int(n, int64))
end subroutine pushinteger4array

subroutine popinteger4array(x, n)
  use dnb_adstack, only: pop_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(out) :: x(n)
  call pop_i4(x, int(n, int64))
end subroutine popinteger4array

subroutine pushboolean(x)
  use dnb_adstack, only: push_l
  implicit none
  logical, intent(in) :: x
  call push_l(x)
end subroutine pushboolean

subroutine popboolean(x)
  use dnb_adstack, only: pop_l
  implicit none
  logical, intent(out) :: x
  call pop_l(x)
end subroutine popboolean

! Control pushes: Tapenade's PUSHCONTROLnB stores a branch number of n bits (0 .. 2**n-1);
! every width takes one byte, so the wider ones go through the 1-bit pair (the fast path).
subroutine pushcontrol1b(c)
  use dnb_adstack, only: buf_c, n_c, cap_c, hw_c, push_c_slow
  use iso_fortran_env, only: int8
  implicit none
  integer, intent(in) :: c
  if (n_c < cap_c) then
    n_c = n_c + 1
    buf_c(n_c) = int(c, int8)
    if (n_c > hw_c) hw_c = n_c
  else
    call push_c_slow(c)
  end if
end subroutine pushcontrol1b

subroutine popcontrol1b(c)
  use dnb_adstack, only: buf_c, n_c, pop_c_slow
  implicit none
  integer, intent(out) :: c
  if (n_c > 0) then
    c = int(buf_c(n_c))
    n_c = n_c - 1
  else
    call pop_c_slow(c)
  end if
end subroutine popcontrol1b

subroutine pushcontrol2b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol2b

subroutine popcontrol2b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol2b

subroutine pushcontrol3b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol3b

subroutine popcontrol3b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol3b

subroutine pushcontrol4b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol4b

subroutine popcontrol4b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol4b

subroutine pushcontrol5b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol5b

subroutine popcontrol5b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol5b

subroutine pushcontrol6b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol6b

subroutine popcontrol6b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol6b

subroutine pushcontrol7b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol7b

subroutine popcontrol7b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol7b

subroutine pushcontrol8b(c)
  implicit none
  integer, intent(in) :: c
  call pushcontrol1b(c)
end subroutine pushcontrol8b

subroutine popcontrol8b(c)
  implicit none
  integer, intent(out) :: c
  call popcontrol1b(c)
end subroutine popcontrol8b
