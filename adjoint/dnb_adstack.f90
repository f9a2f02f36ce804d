! The push/pop stack that the Tapenade-generated reverse code (adjoint/generated/dnb_ad.f90)
! calls. The generated code calls PUSH*/POP* as external subroutines with implicit
! interfaces, so those are plain external subroutines below; the storage and the queries
! live in the module dnb_adstack.
!
! One LIFO stack per kind of value: 8-byte reals, 4-byte reals, 4-byte integers, logicals
! and control bits (branch numbers, packed n bits at a time). The reverse sweep pops every
! kind in exactly the reverse order in which the forward sweep pushed it, so separate stacks
! are equivalent to one interleaved stack. Buffers start small and double when full; they are
! kept between runs (adstack_reset empties them, adstack_release frees them).
!
! Queries for tests and benchmarks: adstack_peak_bytes (largest total payload since the last
! reset), adstack_used_bytes (payload now; 0 after a complete adjoint run), adstack_error
! (0 ok, 1 a pop from an empty stack, 2 an allocation failed). Not thread-safe: one stack per
! process.
module dnb_adstack
  use iso_fortran_env, only: real64, real32, int32, int64
  implicit none
  private
  public :: adstack_reset, adstack_release, adstack_peak_bytes, adstack_used_bytes, &
            adstack_error
  public :: st_push_r8, st_pop_r8, st_push_r4, st_pop_r4, st_push_i4, st_pop_i4, &
            st_push_l, st_pop_l, st_push_bits, st_pop_bits

  integer, parameter :: first_size = 4096

  real(real64), allocatable, save :: buf_r8(:)
  real(real32), allocatable, save :: buf_r4(:)
  integer(int32), allocatable, save :: buf_i4(:)
  logical, allocatable, save :: buf_l(:)
  integer(int32), allocatable, save :: buf_bits(:)     ! 32 control bits per word
  integer(int64), save :: n_r8 = 0, n_r4 = 0, n_i4 = 0, n_l = 0, n_bits = 0
  integer(int64), save :: peak = 0
  integer, save :: status = 0

contains

  ! Empty all stacks and restart the peak count; buffers are kept for the next run.
  subroutine adstack_reset()
    n_r8 = 0
    n_r4 = 0
    n_i4 = 0
    n_l = 0
    n_bits = 0
    peak = 0
    status = 0
  end subroutine adstack_reset

  ! Empty all stacks and free their memory.
  subroutine adstack_release()
    call adstack_reset()
    if (allocated(buf_r8)) deallocate(buf_r8)
    if (allocated(buf_r4)) deallocate(buf_r4)
    if (allocated(buf_i4)) deallocate(buf_i4)
    if (allocated(buf_l)) deallocate(buf_l)
    if (allocated(buf_bits)) deallocate(buf_bits)
  end subroutine adstack_release

  ! Largest payload held at any time since the last reset (bytes).
  subroutine adstack_peak_bytes(nbytes)
    integer(int64), intent(out) :: nbytes
    nbytes = peak
  end subroutine adstack_peak_bytes

  ! Payload held now (bytes).
  subroutine adstack_used_bytes(nbytes)
    integer(int64), intent(out) :: nbytes
    nbytes = used()
  end subroutine adstack_used_bytes

  ! 0 ok; 1 a pop found its stack empty (pushes and pops unbalanced); 2 allocation failed.
  subroutine adstack_error(ierr)
    integer, intent(out) :: ierr
    ierr = status
  end subroutine adstack_error

  integer(int64) function used()
    used = 8 * n_r8 + 4 * n_r4 + 4 * n_i4 + 4 * n_l + (n_bits + 7) / 8
  end function used

  subroutine note_peak()
    integer(int64) :: u
    u = used()
    if (u > peak) peak = u
  end subroutine note_peak

  ! New capacity for at least need elements: double, starting at first_size.
  integer(int64) function grown(cap, need)
    integer(int64), intent(in) :: cap, need
    grown = max(int(first_size, int64), 2 * cap)
    do while (grown < need)
      grown = 2 * grown
    end do
  end function grown

  subroutine reserve_r8(need)
    integer(int64), intent(in) :: need
    real(real64), allocatable :: tmp(:)
    integer :: ierr
    if (.not. allocated(buf_r8)) then
      allocate(buf_r8(grown(0_int64, need)), stat=ierr)
    else if (need > size(buf_r8, kind=int64)) then
      allocate(tmp(grown(size(buf_r8, kind=int64), need)), stat=ierr)
      if (ierr == 0) then
        tmp(1:n_r8) = buf_r8(1:n_r8)
        call move_alloc(tmp, buf_r8)
      end if
    else
      ierr = 0
    end if
    if (ierr /= 0) status = 2
  end subroutine reserve_r8

  subroutine reserve_r4(need)
    integer(int64), intent(in) :: need
    real(real32), allocatable :: tmp(:)
    integer :: ierr
    if (.not. allocated(buf_r4)) then
      allocate(buf_r4(grown(0_int64, need)), stat=ierr)
    else if (need > size(buf_r4, kind=int64)) then
      allocate(tmp(grown(size(buf_r4, kind=int64), need)), stat=ierr)
      if (ierr == 0) then
        tmp(1:n_r4) = buf_r4(1:n_r4)
        call move_alloc(tmp, buf_r4)
      end if
    else
      ierr = 0
    end if
    if (ierr /= 0) status = 2
  end subroutine reserve_r4

  subroutine reserve_i4(need)
    integer(int64), intent(in) :: need
    integer(int32), allocatable :: tmp(:)
    integer :: ierr
    if (.not. allocated(buf_i4)) then
      allocate(buf_i4(grown(0_int64, need)), stat=ierr)
    else if (need > size(buf_i4, kind=int64)) then
      allocate(tmp(grown(size(buf_i4, kind=int64), need)), stat=ierr)
      if (ierr == 0) then
        tmp(1:n_i4) = buf_i4(1:n_i4)
        call move_alloc(tmp, buf_i4)
      end if
    else
      ierr = 0
    end if
    if (ierr /= 0) status = 2
  end subroutine reserve_i4

  subroutine reserve_l(need)
    integer(int64), intent(in) :: need
    logical, allocatable :: tmp(:)
    integer :: ierr
    if (.not. allocated(buf_l)) then
      allocate(buf_l(grown(0_int64, need)), stat=ierr)
    else if (need > size(buf_l, kind=int64)) then
      allocate(tmp(grown(size(buf_l, kind=int64), need)), stat=ierr)
      if (ierr == 0) then
        tmp(1:n_l) = buf_l(1:n_l)
        call move_alloc(tmp, buf_l)
      end if
    else
      ierr = 0
    end if
    if (ierr /= 0) status = 2
  end subroutine reserve_l

  ! room for need bits, i.e. (need + 31) / 32 words
  subroutine reserve_bits(need)
    integer(int64), intent(in) :: need
    integer(int32), allocatable :: tmp(:)
    integer(int64) :: words, nw
    integer :: ierr
    words = (need + 31) / 32
    if (.not. allocated(buf_bits)) then
      allocate(buf_bits(grown(0_int64, words)), stat=ierr)
      if (ierr == 0) buf_bits = 0
    else if (words > size(buf_bits, kind=int64)) then
      allocate(tmp(grown(size(buf_bits, kind=int64), words)), stat=ierr)
      if (ierr == 0) then
        nw = (n_bits + 31) / 32
        tmp = 0
        tmp(1:nw) = buf_bits(1:nw)
        call move_alloc(tmp, buf_bits)
      end if
    else
      ierr = 0
    end if
    if (ierr /= 0) status = 2
  end subroutine reserve_bits

  subroutine st_push_r8(x, n)
    integer(int64), intent(in) :: n
    real(real64), intent(in) :: x(n)
    call reserve_r8(n_r8 + n)
    if (status == 2) return
    buf_r8(n_r8 + 1:n_r8 + n) = x
    n_r8 = n_r8 + n
    call note_peak()
  end subroutine st_push_r8

  subroutine st_pop_r8(x, n)
    integer(int64), intent(in) :: n
    real(real64), intent(out) :: x(n)
    if (n > n_r8) then
      status = 1
      x = 0._real64
      n_r8 = 0
      return
    end if
    x = buf_r8(n_r8 - n + 1:n_r8)
    n_r8 = n_r8 - n
  end subroutine st_pop_r8

  subroutine st_push_r4(x, n)
    integer(int64), intent(in) :: n
    real(real32), intent(in) :: x(n)
    call reserve_r4(n_r4 + n)
    if (status == 2) return
    buf_r4(n_r4 + 1:n_r4 + n) = x
    n_r4 = n_r4 + n
    call note_peak()
  end subroutine st_push_r4

  subroutine st_pop_r4(x, n)
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
  end subroutine st_pop_r4

  subroutine st_push_i4(x, n)
    integer(int64), intent(in) :: n
    integer(int32), intent(in) :: x(n)
    call reserve_i4(n_i4 + n)
    if (status == 2) return
    buf_i4(n_i4 + 1:n_i4 + n) = x
    n_i4 = n_i4 + n
    call note_peak()
  end subroutine st_push_i4

  subroutine st_pop_i4(x, n)
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
  end subroutine st_pop_i4

  subroutine st_push_l(x)
    logical, intent(in) :: x
    call reserve_l(n_l + 1)
    if (status == 2) return
    n_l = n_l + 1
    buf_l(n_l) = x
    call note_peak()
  end subroutine st_push_l

  subroutine st_pop_l(x)
    logical, intent(out) :: x
    if (n_l < 1) then
      status = 1
      x = .false.
      return
    end if
    x = buf_l(n_l)
    n_l = n_l - 1
  end subroutine st_pop_l

  ! Push the nb low bits of c (0 <= c < 2**nb), lowest bit first.
  subroutine st_push_bits(c, nb)
    integer, intent(in) :: c, nb
    integer :: k
    integer(int64) :: w, b
    call reserve_bits(n_bits + nb)
    if (status == 2) return
    do k = 0, nb - 1
      w = n_bits / 32 + 1
      b = mod(n_bits, 32_int64)
      if (btest(c, k)) then
        buf_bits(w) = ibset(buf_bits(w), int(b))
      else
        buf_bits(w) = ibclr(buf_bits(w), int(b))
      end if
      n_bits = n_bits + 1
    end do
    call note_peak()
  end subroutine st_push_bits

  ! Pop nb bits into c, the inverse of st_push_bits.
  subroutine st_pop_bits(c, nb)
    integer, intent(out) :: c
    integer, intent(in) :: nb
    integer :: k
    integer(int64) :: w, b
    c = 0
    if (nb > n_bits) then
      status = 1
      n_bits = 0
      return
    end if
    do k = nb - 1, 0, -1
      n_bits = n_bits - 1
      w = n_bits / 32 + 1
      b = mod(n_bits, 32_int64)
      if (btest(buf_bits(w), int(b))) c = ibset(c, k)
    end do
  end subroutine st_pop_bits

end module dnb_adstack

! ---- external entry points called by the generated reverse code ----------------------

subroutine pushreal8(x)
  use dnb_adstack, only: st_push_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  real(real64), intent(in) :: x
  real(real64) :: a(1)
  a(1) = x
  call st_push_r8(a, 1_int64)
end subroutine pushreal8

subroutine popreal8(x)
  use dnb_adstack, only: st_pop_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  real(real64), intent(out) :: x
  real(real64) :: a(1)
  call st_pop_r8(a, 1_int64)
  x = a(1)
end subroutine popreal8

subroutine pushreal8array(x, n)
  use dnb_adstack, only: st_push_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  integer, intent(in) :: n
  real(real64), intent(in) :: x(n)
  call st_push_r8(x, int(n, int64))
end subroutine pushreal8array

subroutine popreal8array(x, n)
  use dnb_adstack, only: st_pop_r8
  use iso_fortran_env, only: real64, int64
  implicit none
  integer, intent(in) :: n
  real(real64), intent(out) :: x(n)
  call st_pop_r8(x, int(n, int64))
end subroutine popreal8array

subroutine pushreal4(x)
  use dnb_adstack, only: st_push_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  real(real32), intent(in) :: x
  real(real32) :: a(1)
  a(1) = x
  call st_push_r4(a, 1_int64)
end subroutine pushreal4

subroutine popreal4(x)
  use dnb_adstack, only: st_pop_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  real(real32), intent(out) :: x
  real(real32) :: a(1)
  call st_pop_r4(a, 1_int64)
  x = a(1)
end subroutine popreal4

subroutine pushreal4array(x, n)
  use dnb_adstack, only: st_push_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  integer, intent(in) :: n
  real(real32), intent(in) :: x(n)
  call st_push_r4(x, int(n, int64))
end subroutine pushreal4array

subroutine popreal4array(x, n)
  use dnb_adstack, only: st_pop_r4
  use iso_fortran_env, only: real32, int64
  implicit none
  integer, intent(in) :: n
  real(real32), intent(out) :: x(n)
  call st_pop_r4(x, int(n, int64))
end subroutine popreal4array

subroutine pushinteger4(i)
  use dnb_adstack, only: st_push_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer(int32), intent(in) :: i
  integer(int32) :: a(1)
  a(1) = i
  call st_push_i4(a, 1_int64)
end subroutine pushinteger4

subroutine popinteger4(i)
  use dnb_adstack, only: st_pop_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer(int32), intent(out) :: i
  integer(int32) :: a(1)
  call st_pop_i4(a, 1_int64)
  i = a(1)
end subroutine popinteger4

subroutine pushinteger4array(x, n)
  use dnb_adstack, only: st_push_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(in) :: x(n)
  call st_push_i4(x, int(n, int64))
end subroutine pushinteger4array

subroutine popinteger4array(x, n)
  use dnb_adstack, only: st_pop_i4
  use iso_fortran_env, only: int32, int64
  implicit none
  integer, intent(in) :: n
  integer(int32), intent(out) :: x(n)
  call st_pop_i4(x, int(n, int64))
end subroutine popinteger4array

subroutine pushboolean(x)
  use dnb_adstack, only: st_push_l
  implicit none
  logical, intent(in) :: x
  call st_push_l(x)
end subroutine pushboolean

subroutine popboolean(x)
  use dnb_adstack, only: st_pop_l
  implicit none
  logical, intent(out) :: x
  call st_pop_l(x)
end subroutine popboolean

! PUSHCONTROLnB(c) saves branch number c (0 <= c < 2**n) in n bits.
subroutine pushcontrol1b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 1)
end subroutine pushcontrol1b

subroutine popcontrol1b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 1)
end subroutine popcontrol1b

subroutine pushcontrol2b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 2)
end subroutine pushcontrol2b

subroutine popcontrol2b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 2)
end subroutine popcontrol2b

subroutine pushcontrol3b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 3)
end subroutine pushcontrol3b

subroutine popcontrol3b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 3)
end subroutine popcontrol3b

subroutine pushcontrol4b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 4)
end subroutine pushcontrol4b

subroutine popcontrol4b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 4)
end subroutine popcontrol4b

subroutine pushcontrol5b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 5)
end subroutine pushcontrol5b

subroutine popcontrol5b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 5)
end subroutine popcontrol5b

subroutine pushcontrol6b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 6)
end subroutine pushcontrol6b

subroutine popcontrol6b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 6)
end subroutine popcontrol6b

subroutine pushcontrol7b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 7)
end subroutine pushcontrol7b

subroutine popcontrol7b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 7)
end subroutine popcontrol7b

subroutine pushcontrol8b(c)
  use dnb_adstack, only: st_push_bits
  implicit none
  integer, intent(in) :: c
  call st_push_bits(c, 8)
end subroutine pushcontrol8b

subroutine popcontrol8b(c)
  use dnb_adstack, only: st_pop_bits
  implicit none
  integer, intent(out) :: c
  call st_pop_bits(c, 8)
end subroutine popcontrol8b
