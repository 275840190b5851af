/*
 * runtime/xml against the response shapes the S3 driver reads and against
 * hostile bodies.  Prints "ok <case>" or "FAILED <case>: ..." per case and a
 * summary "xml: N passed, M failed"; exits 1 if anything failed.
 * Run by spec/xml_spec.lua.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../runtime/xml.h"

static int passed, failed;
static const char *current;
static int case_failed;

#define NS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define HDR "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"

static void fail(const char *fmt, const char *a, const char *b)
{
    if (!case_failed)
        printf("FAILED %s: ", current);
    else
        printf("       %s: ", current);
    printf(fmt, a ? a : "(null)", b ? b : "(null)");
    printf("\n");
    case_failed = 1;
}

static void begin(const char *name)
{
    current = name;
    case_failed = 0;
}

static void end(void)
{
    if (case_failed) {
        failed++;
    } else {
        passed++;
        printf("ok %s\n", current);
    }
}

static void expect_str(const char *what, const char *got, const char *want)
{
    if ((got == NULL) != (want == NULL) || (got && strcmp(got, want) != 0)) {
        char buf[256];
        snprintf(buf, sizeof buf, "%s: got \"%%s\", want \"%%s\"", what);
        fail(buf, got, want);
    }
}

static void expect(int cond, const char *what)
{
    if (!cond)
        fail("%s%s", what, "");
}

static sd_xml_doc *parse_ok(const char *xml, size_t len)
{
    sd_xml_doc *doc = NULL;
    sd_error *e = sd_xml_parse(xml, len, NULL, &doc);
    if (e) {
        fail("unexpected error: %s%s", e->detail, "");
        sd_error_free(e);
        return NULL;
    }
    if (!doc)
        fail("no doc%s%s", "", "");
    return doc;
}

/* Parses with lim and wants a Driver error whose detail starts with
 * "malformed XML response: " and holds want. */
static void parse_err(const char *xml, size_t len, const sd_xml_limits *lim, const char *want)
{
    sd_xml_doc *doc = (sd_xml_doc *)1;
    sd_error *e = sd_xml_parse(xml, len, lim, &doc);
    if (!e) {
        fail("parsed, want an error holding \"%s\"%s", want, "");
        sd_xml_doc_free(doc);
        return;
    }
    expect(doc == NULL, "*out not NULL on error");
    expect(e->kind == SD_ERR_DRIVER, "error kind is not Driver");
    if (!e->detail || strncmp(e->detail, "malformed XML response: ", 24) != 0 ||
        !strstr(e->detail, want))
        fail("detail \"%s\" does not hold \"%s\"", e->detail, want);
    sd_error_free(e);
}

static void list_v2(const char *name, const char *ns)
{
    char xml[4096];
    snprintf(xml, sizeof xml, HDR
        "<ListBucketResult %s>\n"
        "  <Name>bucket</Name>\n  <Prefix>docker/</Prefix>\n  <KeyCount>3</KeyCount>\n"
        "  <MaxKeys>1000</MaxKeys>\n  <Delimiter>/</Delimiter>\n"
        "  <IsTruncated>true</IsTruncated>\n"
        "  <Contents>\n    <Key>docker/a&amp;b</Key>\n"
        "    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
        "    <ETag>&quot;fba9dede5f27731c9771645a39863328&quot;</ETag>\n"
        "    <Size>434234</Size>\n    <StorageClass>STANDARD</StorageClass>\n"
        "  </Contents>\n"
        "  <CommonPrefixes><Prefix>docker/dir1/</Prefix></CommonPrefixes>\n"
        "  <Contents><Key>docker/&lt;x&gt; &#x263A; caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac</Key>"
        "<LastModified>2020-01-01T00:00:00.000Z</LastModified><Size>0</Size></Contents>\n"
        "  <CommonPrefixes><Prefix>docker/dir2/</Prefix></CommonPrefixes>\n"
        "  <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken>\n"
        "</ListBucketResult>\n", ns);
    begin(name);
    sd_xml_doc *d = parse_ok(xml, strlen(xml));
    if (d) {
        expect_str("root", sd_xml_name(sd_xml_root(d)), "ListBucketResult");
        expect_str("IsTruncated", sd_xml_find(d, "ListBucketResult/IsTruncated"), "true");
        expect_str("KeyCount", sd_xml_find(d, "ListBucketResult/KeyCount"), "3");
        expect_str("token", sd_xml_find(d, "ListBucketResult/NextContinuationToken"),
                   "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
        expect_str("absent", sd_xml_find(d, "ListBucketResult/ContinuationToken"), NULL);
        expect_str("wrong root", sd_xml_find(d, "Error/Code"), NULL);
        const char *keys[] = {"docker/a&b",
                              "docker/<x> \xe2\x98\xba caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac"};
        const char *sizes[] = {"434234", "0"};
        int i = 0;
        for (const sd_xml_node *n = sd_xml_find_node(d, "ListBucketResult/Contents"); n;
             n = sd_xml_next(n), i++) {
            if (i >= 2) {
                fail("more than 2 Contents%s%s", "", "");
                break;
            }
            expect_str("Key", sd_xml_child_text(n, "Key"), keys[i]);
            expect_str("Size", sd_xml_child_text(n, "Size"), sizes[i]);
            expect(sd_xml_child_text(n, "LastModified") != NULL, "no LastModified");
        }
        expect(i == 2, "not 2 Contents");
        expect_str("ETag", sd_xml_find(d, "ListBucketResult/Contents/ETag"),
                   "\"fba9dede5f27731c9771645a39863328\"");
        const char *pre[] = {"docker/dir1/", "docker/dir2/"};
        i = 0;
        for (const sd_xml_node *n = sd_xml_find_node(d, "ListBucketResult/CommonPrefixes"); n;
             n = sd_xml_next(n), i++)
            if (i < 2)
                expect_str("Prefix", sd_xml_child_text(n, "Prefix"), pre[i]);
        expect(i == 2, "not 2 CommonPrefixes");
        size_t len = 0;
        const char *t = sd_xml_text(sd_xml_find_node(d, "ListBucketResult/Contents/Key"), &len);
        expect(t && len == strlen("docker/a&b"), "text length");
        /* whole-tree walk: children in document order */
        int count = 0;
        for (const sd_xml_node *c = sd_xml_first_child(sd_xml_root(d)); c;
             c = sd_xml_next_sibling(c))
            count++;
        expect(count == 11, "root does not have 11 children");
    }
    sd_xml_doc_free(d);
    end();
}

static void simple(const char *name, const char *xml, const char *const *pairs)
{
    begin(name);
    sd_xml_doc *d = parse_ok(xml, strlen(xml));
    if (d)
        for (; pairs[0]; pairs += 2)
            expect_str(pairs[0], sd_xml_find(d, pairs[0]), pairs[1]);
    sd_xml_doc_free(d);
    end();
}

static void list_parts(void)
{
    const char *xml = HDR "<ListPartsResult " NS ">"
        "<Bucket>b</Bucket><Key>k</Key><UploadId>XXBsb2FkIElEIGZvciBlbHZpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
        "<Initiator><ID>arn:aws:iam::111122223333:user/some-user</ID><DisplayName>u</DisplayName></Initiator>"
        "<PartNumberMarker>1</PartNumberMarker><NextPartNumberMarker>3</NextPartNumberMarker>"
        "<MaxParts>2</MaxParts><IsTruncated>true</IsTruncated>"
        "<Part><PartNumber>2</PartNumber><LastModified>2010-11-10T20:48:34.000Z</LastModified>"
        "<ETag>\"7778aef83f66abc1fa1e8477f296d394\"</ETag><Size>10485760</Size></Part>"
        "<Part><PartNumber>3</PartNumber><LastModified>2010-11-10T20:48:33.000Z</LastModified>"
        "<ETag>\"aaaa18db4cc2f85cedef654fccc4a4x8\"</ETag><Size>10485760</Size></Part>"
        "</ListPartsResult>";
    begin("ListPartsResult parts");
    sd_xml_doc *d = parse_ok(xml, strlen(xml));
    if (d) {
        expect_str("NextPartNumberMarker", sd_xml_find(d, "ListPartsResult/NextPartNumberMarker"), "3");
        expect_str("Initiator/ID", sd_xml_find(d, "ListPartsResult/Initiator/ID"),
                   "arn:aws:iam::111122223333:user/some-user");
        int i = 0;
        for (const sd_xml_node *n = sd_xml_find_node(d, "ListPartsResult/Part"); n;
             n = sd_xml_next(n), i++) {
            expect_str("PartNumber", sd_xml_child_text(n, "PartNumber"), i == 0 ? "2" : "3");
            expect_str("Size", sd_xml_child_text(n, "Size"), "10485760");
        }
        expect(i == 2, "not 2 parts");
    }
    sd_xml_doc_free(d);
    end();
}

static void delete_result(void)
{
    const char *xml = HDR "<DeleteResult " NS ">"
        "<Deleted><Key>sample1.txt</Key></Deleted>"
        "<Error><Key>sample2.txt</Key><Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        "<Deleted><Key>a&amp;b</Key><DeleteMarker>true</DeleteMarker>"
        "<DeleteMarkerVersionId>NeQt5xeFTfgPJD8B4CGWnkSLtluMr11s</DeleteMarkerVersionId></Deleted>"
        "<Error><Key>x</Key><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>"
        "</DeleteResult>";
    begin("DeleteResult Deleted and Error entries");
    sd_xml_doc *d = parse_ok(xml, strlen(xml));
    if (d) {
        const char *del[] = {"sample1.txt", "a&b"};
        int i = 0;
        for (const sd_xml_node *n = sd_xml_find_node(d, "DeleteResult/Deleted"); n;
             n = sd_xml_next(n), i++)
            if (i < 2)
                expect_str("Deleted/Key", sd_xml_child_text(n, "Key"), del[i]);
        expect(i == 2, "not 2 Deleted");
        const char *codes[] = {"AccessDenied", "InternalError"};
        i = 0;
        for (const sd_xml_node *n = sd_xml_find_node(d, "DeleteResult/Error"); n;
             n = sd_xml_next(n), i++)
            if (i < 2)
                expect_str("Error/Code", sd_xml_child_text(n, "Code"), codes[i]);
        expect(i == 2, "not 2 Error");
    }
    sd_xml_doc_free(d);
    end();
}

static void hostile(void)
{
    begin("empty body");
    parse_err("", 0, NULL, "no element found");
    end();

    begin("whitespace only");
    parse_err("  \n ", 4, NULL, "no element found");
    end();

    begin("truncated document");
    {
        const char *x = HDR "<ListBucketResult " NS "><Name>bucket</Name><Contents><Key>a";
        parse_err(x, strlen(x), NULL, "at line 2");
    }
    end();

    begin("mismatched tags");
    {
        const char *x = "<Error>\n<Code>NoSuchKey</Message>\n</Error>";
        parse_err(x, strlen(x), NULL, "mismatched tag at line 2");
    }
    end();

    begin("not XML (HTML error page)");
    {
        const char *x = "<html><body>502 Bad Gateway<br></body></html>";
        parse_err(x, strlen(x), NULL, "mismatched tag");
    }
    end();

    begin("undefined entity");
    {
        const char *x = "<Error><Code>&nbsp;</Code></Error>";
        parse_err(x, strlen(x), NULL, "undefined entity");
    }
    end();

    begin("billion laughs with a DTD");
    {
        const char *x = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n"
            " <!ENTITY lol1 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
            " <!ENTITY lol2 \"&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;\">\n"
            " <!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">\n"
            " <!ENTITY lol4 \"&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;\">\n"
            " <!ENTITY lol5 \"&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;\">\n"
            " <!ENTITY lol6 \"&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;\">\n"
            " <!ENTITY lol7 \"&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;\">\n"
            " <!ENTITY lol8 \"&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;\">\n"
            " <!ENTITY lol9 \"&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;\">\n"
            "]>\n<Error><Code>&lol9;</Code></Error>";
        parse_err(x, strlen(x), NULL, "document type declarations are not allowed at line 2");
    }
    end();

    begin("external entity");
    {
        const char *x = "<?xml version=\"1.0\"?>\n<!DOCTYPE r [ <!ENTITY xxe SYSTEM \"file:///etc/passwd\"> ]>\n"
            "<Error><Code>&xxe;</Code></Error>";
        parse_err(x, strlen(x), NULL, "document type declarations are not allowed");
    }
    end();

    begin("external DTD");
    {
        const char *x = "<!DOCTYPE r SYSTEM \"http://127.0.0.1:1/evil.dtd\"><r/>";
        parse_err(x, strlen(x), NULL, "document type declarations are not allowed");
    }
    end();

    begin("10,000-deep nesting");
    {
        size_t n = 10000;
        char *x = malloc(n * 7 + 1);
        size_t off = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(x + off, "<a>", 3);
            off += 3;
        }
        for (size_t i = 0; i < n; i++) {
            memcpy(x + off, "</a>", 4);
            off += 4;
        }
        x[off] = '\0';
        parse_err(x, off, NULL, "elements nested too deep");
        free(x);
    }
    end();

    begin("depth at the limit is accepted");
    {
        char x[64 * 7 + 16];
        size_t off = 0;
        for (int i = 0; i < 64; i++) {
            memcpy(x + off, "<a>", 3);
            off += 3;
        }
        memcpy(x + off, "deep", 4);
        off += 4;
        for (int i = 0; i < 64; i++) {
            memcpy(x + off, "</a>", 4);
            off += 4;
        }
        sd_xml_doc *d = parse_ok(x, off);
        if (d) {
            const sd_xml_node *n = sd_xml_root(d);
            while (sd_xml_first_child(n))
                n = sd_xml_first_child(n);
            expect_str("deepest text", sd_xml_text(n, NULL), "deep");
        }
        sd_xml_doc_free(d);
    }
    end();

    begin("huge text node beyond the limit");
    {
        size_t n = (2u << 20) + 64;
        char *x = malloc(n);
        memcpy(x, "<Error><Code>", 13);
        memset(x + 13, 'A', n - 13);
        size_t off = n - 15;
        memcpy(x + off, "</Code></Error>", 15);
        parse_err(x, n, NULL, "element text too long");
        sd_xml_limits lim = {.max_text = 0};
        lim.max_text = 4u << 20;
        sd_xml_doc *d = NULL;
        sd_error *e = sd_xml_parse(x, n, &lim, &d);
        expect(e == NULL && d != NULL, "a raised max_text does not accept it");
        if (d) {
            size_t len = 0;
            sd_xml_text(sd_xml_find_node(d, "Error/Code"), &len);
            expect(len == n - 28, "text length");
        }
        sd_error_free(e);
        sd_xml_doc_free(d);
        free(x);
    }
    end();

    begin("body over max_bytes");
    {
        const char *x = "<Error><Code>SlowDown</Code></Error>";
        sd_xml_limits lim = {.max_bytes = 10};
        parse_err(x, strlen(x), &lim, "over the limit of 10");
    }
    end();

    begin("too many elements");
    {
        const char *x = "<r><a/><a/><a/><a/><a/></r>";
        sd_xml_limits lim = {.max_nodes = 5};
        parse_err(x, strlen(x), &lim, "too many elements");
        lim.max_nodes = 6;
        sd_xml_doc *d = NULL;
        sd_error *e = sd_xml_parse(x, strlen(x), &lim, &d);
        expect(e == NULL, "6 elements under max_nodes=6 refused");
        sd_error_free(e);
        sd_xml_doc_free(d);
    }
    end();

    begin("invalid UTF-8");
    {
        const char *x = "<Error><Code>\xff\xfe</Code></Error>";
        parse_err(x, strlen(x), NULL, "not well-formed");
    }
    end();

    begin("trailing junk after the root");
    {
        const char *x = "<Error><Code>a</Code></Error><Error/>";
        parse_err(x, strlen(x), NULL, "junk after document element");
    }
    end();

    begin("unbound namespace prefix");
    {
        const char *x = "<s3:Error><Code>a</Code></s3:Error>";
        parse_err(x, strlen(x), NULL, "unbound prefix");
    }
    end();

    begin("prefixed namespace is stripped");
    {
        const char *x = "<s3:Error xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
                        "<s3:Code>a</s3:Code><!-- c --><?pi x?></s3:Error>";
        sd_xml_doc *d = parse_ok(x, strlen(x));
        expect_str("Code", sd_xml_find(d, "Error/Code"), "a");
        sd_xml_doc_free(d);
    }
    end();

    begin("CDATA and empty elements");
    {
        const char *x = "<r><k><![CDATA[a<b>&amp;]]></k><e/><f></f></r>";
        sd_xml_doc *d = parse_ok(x, strlen(x));
        expect_str("CDATA", sd_xml_find(d, "r/k"), "a<b>&amp;");
        expect_str("empty", sd_xml_find(d, "r/e"), "");
        expect_str("empty pair", sd_xml_find(d, "r/f"), "");
        expect_str("root path", sd_xml_name(sd_xml_find_node(d, "r")), "r");
        expect_str("absent", sd_xml_find(d, "r/g"), NULL);
        sd_xml_doc_free(d);
    }
    end();
}

int main(void)
{
    list_v2("ListBucketResult v2 with the S3 namespace", NS);
    list_v2("ListBucketResult v2 without a namespace", "");

    const char *err_ns[] = {"Error/Code", "NoSuchKey", "Error/Message",
                            "The resource you requested does not exist",
                            "Error/Resource", "/mybucket/a&b", "Error/RequestId",
                            "4442587FB7D0A2F9", NULL};
    simple("Error with Code/Message/RequestId",
           HDR "<Error>\n  <Code>NoSuchKey</Code>\n"
           "  <Message>The resource you requested does not exist</Message>\n"
           "  <Resource>/mybucket/a&amp;b</Resource>\n"
           "  <RequestId>4442587FB7D0A2F9</RequestId>\n</Error>", err_ns);

    const char *init[] = {"InitiateMultipartUploadResult/Bucket", "example-bucket",
                          "InitiateMultipartUploadResult/Key", "example-object",
                          "InitiateMultipartUploadResult/UploadId",
                          "VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA", NULL};
    simple("InitiateMultipartUploadResult UploadId (namespace)",
           HDR "<InitiateMultipartUploadResult " NS ">\n"
           "  <Bucket>example-bucket</Bucket>\n  <Key>example-object</Key>\n"
           "  <UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>\n"
           "</InitiateMultipartUploadResult>", init);
    simple("InitiateMultipartUploadResult UploadId (no namespace)",
           "<InitiateMultipartUploadResult><Bucket>example-bucket</Bucket>"
           "<Key>example-object</Key>"
           "<UploadId>VXBsb2FkIElEIGZvciA2aWWpbmcncyBteS1tb3ZpZS5tMnRzIHVwbG9hZA</UploadId>"
           "</InitiateMultipartUploadResult>", init);

    list_parts();
    delete_result();

    const char *comp[] = {"CompleteMultipartUploadResult/Location",
                          "http://Example-Bucket.s3.amazonaws.com/Example-Object",
                          "CompleteMultipartUploadResult/Key", "Example-Object",
                          "CompleteMultipartUploadResult/ETag",
                          "\"3858f62230ac3c915f300c664312c11f-9\"", NULL};
    simple("CompleteMultipartUploadResult",
           HDR "<CompleteMultipartUploadResult " NS ">\n"
           "  <Location>http://Example-Bucket.s3.amazonaws.com/Example-Object</Location>\n"
           "  <Bucket>Example-Bucket</Bucket>\n  <Key>Example-Object</Key>\n"
           "  <ETag>&quot;3858f62230ac3c915f300c664312c11f-9&quot;</ETag>\n"
           "</CompleteMultipartUploadResult>", comp);
    /* CompleteMultipartUpload may answer 200 with an Error body. */
    const char *comp_err[] = {"Error/Code", "InternalError", NULL};
    simple("200 with an Error body",
           HDR "\n\n\n<Error><Code>InternalError</Code><Message>x</Message></Error>", comp_err);

    hostile();

    printf("xml: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
