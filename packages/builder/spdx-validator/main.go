// spdx-validate FILE: exits 0 when FILE is an SPDX 2.3 JSON document that SPDX's own Go
// library (github.com/spdx/tools-golang, as Debian packages it) reads and validates; otherwise
// prints why and exits 1. Built and run by @bakehouse/builder's validateSpdx().
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/v2_3"
	"github.com/spdx/tools-golang/spdxlib"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: spdx-validate FILE")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := validate(data); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func validate(data []byte) error {
	// Decoding into the library's 2.3 model refuses wrong types and malformed identifiers and
	// suppliers; its reader below would accept 2.1 and 2.2 documents as well.
	var strict v2_3.Document
	if err := json.Unmarshal(data, &strict); err != nil {
		return fmt.Errorf("not an SPDX 2.3 JSON document: %w", err)
	}
	if strict.SPDXVersion != v2_3.Version {
		return fmt.Errorf("spdxVersion is %q, not %q", strict.SPDXVersion, v2_3.Version)
	}
	doc, err := spdxjson.Read(bytes.NewReader(data))
	if err != nil {
		return err
	}
	if err := spdxlib.ValidateDocument(doc); err != nil {
		return err
	}
	if _, err := spdxlib.GetDescribedPackageIDs(doc); err != nil {
		return err
	}
	return nil
}
