/* Test-only stand-in for Windows' bcryptprimitives.dll, which Wine 8 lacks: ProcessPrng over BCryptGenRandom.
   Built by scripts/windows.ts (deno task test:windows) into the Wine prefix; never part of the product. */
#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
  while (len > 0) {
    ULONG chunk = len > 0x7fffffff ? 0x7fffffff : (ULONG)len;
    if (BCryptGenRandom(NULL, data, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG) != 0) return FALSE;
    data += chunk;
    len -= chunk;
  }
  return TRUE;
}
