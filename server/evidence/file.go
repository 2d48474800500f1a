package evidence

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"html"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/shiftsync/shiftsync/server/shiftsync"
)

// csvHeader is the CSV's first line: the row's columns, then its hash.
var csvHeader = append(slices.Clone(shiftsync.PackRowColumns), "row_sha256")

// manifestLine starts the CSV's last line, the manifest: "#manifest", the
// encoding, the root (in the row_sha256 column) and the pack id (in the
// summary column).
const manifestLine = "#manifest"

// WriteCSV writes the pack as CSV: a header, one line per row
// ([shiftsync.PackRowColumns] then the row's hash), and a last line holding
// the manifest: "#manifest" in record_id, the encoding in record_type, the
// root in row_sha256 and the pack id in summary. A cell that a spreadsheet
// would read as a formula (starting with =, +, - or @), or that starts with
// an apostrophe, is written with one apostrophe before it (OWASP's CSV
// injection advice); [ReadPack] takes it off again.
func WriteCSV(w io.Writer, pack shiftsync.EvidencePack) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for i, r := range pack.Rows {
		line := append(r.Columns(), pack.Manifest.Rows[i].SHA256)
		for j, c := range line {
			line[j] = inertCell(c)
		}
		if err := cw.Write(line); err != nil {
			return err
		}
	}
	trailer := make([]string, len(csvHeader))
	trailer[0], trailer[1], trailer[len(trailer)-1], trailer[len(trailer)-2] = manifestLine, pack.Manifest.Encoding, inertCell(pack.ID), pack.Manifest.Root
	if err := cw.Write(trailer); err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// inertCell keeps a spreadsheet from reading a cell as a formula.
func inertCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@'", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ErrUnreadable is returned for a file that is not a pack's HTML or CSV.
var ErrUnreadable = errors.New("not an evidence pack's HTML or CSV")

// ReadPack reads a pack's HTML ([WriteHTML]) or CSV ([WriteCSV]) back: its
// rows as they stand in the file, the hash each shows and the manifest it
// shows. It reads at most [shiftsync.MaxPackFileBytes]. A file that is
// neither is an error wrapping ErrUnreadable that says what is wrong.
func ReadPack(b []byte) (shiftsync.PackFile, error) {
	if len(b) > shiftsync.MaxPackFileBytes {
		return shiftsync.PackFile{}, fmt.Errorf("%w: larger than %d MiB", ErrUnreadable, shiftsync.MaxPackFileBytes>>20)
	}
	b = bytes.TrimPrefix(b, []byte("\uFEFF"))
	if t := bytes.TrimLeft(b, " \t\r\n"); len(t) > 0 && t[0] == '<' {
		return readHTML(string(t))
	}
	return readCSV(b)
}

func readCSV(b []byte) (shiftsync.PackFile, error) {
	var f shiftsync.PackFile
	cr := csv.NewReader(bytes.NewReader(b))
	cr.FieldsPerRecord = len(csvHeader)
	header, err := cr.Read()
	if err != nil || !slices.Equal(header, csvHeader) {
		return f, fmt.Errorf("%w: the first line is not %s", ErrUnreadable, strings.Join(csvHeader, ","))
	}
	for {
		line, err := cr.Read()
		if err == io.EOF {
			return f, fmt.Errorf("%w: no #manifest line at the end", ErrUnreadable)
		} else if err != nil {
			return f, fmt.Errorf("%w: %v", ErrUnreadable, err)
		}
		for i, c := range line {
			line[i] = strings.TrimPrefix(c, "'")
		}
		n, _ := cr.FieldPos(0)
		if line[0] == manifestLine {
			f.Encoding, f.Root, f.PackID = line[1], line[len(line)-2], line[len(line)-1]
			if _, err := cr.Read(); err != io.EOF {
				return f, fmt.Errorf("%w: line %d follows the #manifest line", ErrUnreadable, n+1)
			}
			return f, checkEncoding(f)
		}
		row, _ := shiftsync.PackRowFromColumns(line[:len(line)-1])
		// Lines are numbered as a spreadsheet shows them: the header is 1.
		f.Rows = append(f.Rows, shiftsync.PackFileRow{Line: n, Row: row, SHA256: line[len(line)-1]})
	}
}

var (
	htmlRow   = regexp.MustCompile(`(?s)<tr data-row="(\d+)">(.*?)</tr>`)
	htmlCell  = regexp.MustCompile(`(?s)<td[^>]*>(.*?)</td>`)
	htmlField = func(id string) *regexp.Regexp { return regexp.MustCompile(`<code id="` + id + `">([^<]*)</code>`) }
	htmlID    = htmlField("pack-id")
	htmlRoot  = htmlField("pack-root")
	htmlEnc   = htmlField("pack-encoding")
)

// readHTML reads the rows table and the manifest of a pack's HTML.
func readHTML(s string) (shiftsync.PackFile, error) {
	var f shiftsync.PackFile
	for name, re := range map[string]*regexp.Regexp{"pack-id": htmlID, "pack-root": htmlRoot, "pack-encoding": htmlEnc} {
		m := re.FindStringSubmatch(s)
		if m == nil {
			return f, fmt.Errorf("%w: the page has no %s", ErrUnreadable, name)
		}
		switch v := html.UnescapeString(m[1]); name {
		case "pack-id":
			f.PackID = v
		case "pack-root":
			f.Root = v
		default:
			f.Encoding = v
		}
	}
	for _, m := range htmlRow.FindAllStringSubmatch(s, -1) {
		line, _ := strconv.Atoi(m[1]) // \d+
		cells := htmlCell.FindAllStringSubmatch(m[2], -1)
		if len(cells) != len(csvHeader) {
			return f, fmt.Errorf("%w: row %d has %d cells, want %d", ErrUnreadable, line, len(cells), len(csvHeader))
		}
		values := make([]string, len(cells))
		for i, c := range cells {
			values[i] = html.UnescapeString(c[1])
		}
		row, _ := shiftsync.PackRowFromColumns(values[:len(values)-1])
		f.Rows = append(f.Rows, shiftsync.PackFileRow{Line: line, Row: row, SHA256: values[len(values)-1]})
	}
	return f, checkEncoding(f)
}

func checkEncoding(f shiftsync.PackFile) error {
	if f.Encoding != shiftsync.PackRowEncoding {
		return fmt.Errorf("%w: encoding %q, want %q (a pack exported before it verifies by its id alone)", ErrUnreadable, truncate(f.Encoding, 64), shiftsync.PackRowEncoding)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "…"
	}
	return s
}
