/*
 * ref: a command-line wrapper around the system spandsp's G.722 codec, the
 * oracle for this package's known-answer vectors (see gen.sh). It is not
 * part of the Go build.
 *
 *   ref enc      16 kHz s16le PCM on stdin  -> G.722 bytes on stdout
 *   ref dec      G.722 bytes on stdin       -> 16 kHz s16le PCM on stdout
 *   ref enctest  QMF bypassed (spandsp's ITU test mode): each s16le input
 *                sample a feeds both ADPCM coders as a>>1, one code per sample
 *   ref dectest  QMF bypassed: each code yields rlow<<1, rhigh<<1 (s16le)
 *
 * Build: cc -O2 -o ref ref.c -lspandsp   (Debian: apt-get install libspandsp-dev)
 */
#define SPANDSP_EXPOSE_INTERNAL_STRUCTURES 1
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <spandsp.h>

int main(int argc, char **argv)
{
    static uint8_t in[1 << 26];
    size_t n;
    int test;

    if (argc != 2)
    {
        fprintf(stderr, "usage: ref enc|dec|enctest|dectest <in >out\n");
        return 2;
    }
    n = fread(in, 1, sizeof(in), stdin);
    test = strstr(argv[1], "test") != NULL;
    if (strncmp(argv[1], "enc", 3) == 0)
    {
        g722_encode_state_t *s = g722_encode_init(NULL, 64000, 0);
        int samples = (int) (n / 2);
        uint8_t *out = malloc(samples + 1);
        int m;

        s->itu_test_mode = test;
        m = g722_encode(s, out, (const int16_t *) in, samples);
        fwrite(out, 1, m, stdout);
    }
    else if (strncmp(argv[1], "dec", 3) == 0)
    {
        g722_decode_state_t *s = g722_decode_init(NULL, 64000, 0);
        int16_t *out = malloc(4 * n + 4);
        int m;

        s->itu_test_mode = test;
        m = g722_decode(s, out, in, (int) n);
        fwrite(out, 2, m, stdout);
    }
    else
    {
        fprintf(stderr, "ref: unknown mode %s\n", argv[1]);
        return 2;
    }
    return 0;
}
