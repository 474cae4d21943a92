package api

import "net/http"

// Routes is the whole API, in the order the docs list it. The OpenAPI document
// is tested against this table, so a route cannot be added without documenting it.
func (s *Server) Routes() []Route {
	const (
		get, post, patch, del = http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete
	)
	return []Route{
		{get, "/healthz", Public, "Process liveness", s.healthz},
		{get, "/readyz", Public, "Readiness of the database, SIP listener and job workers", s.readyz},
		{get, "/metrics", OperatorOnly, "Prometheus metrics", s.metricsHandler},
		{get, "/v1/openapi.json", Public, "This API's OpenAPI 3.1 document", s.openAPI},

		{post, "/v1/customers", OperatorOnly, "Create a customer", s.createCustomer},
		{get, "/v1/customers", CustomerKeys, "List customers", s.listCustomers},
		{get, "/v1/customers/{id}", CustomerKeys, "Get a customer", s.getCustomer},
		{patch, "/v1/customers/{id}", OperatorOnly, "Update a customer", s.updateCustomer},
		{post, "/v1/customers/{id}/credits", OperatorOnly, "Add credit (a ledger entry)", s.addCredit},
		{get, "/v1/customers/{id}/ledger", CustomerKeys, "List a customer's ledger", s.listLedger},
		{post, "/v1/customers/{id}/keys", OperatorOnly, "Create a customer key", s.createCustomerKey},
		{get, "/v1/customers/{id}/keys", CustomerKeys, "List a customer's keys", s.listCustomerKeys},
		{del, "/v1/keys/{id}", CustomerKeys, "Revoke a key", s.revokeKey},

		{post, "/v1/rates", OperatorOnly, "Create a rate", s.createRate},
		{get, "/v1/rates", CustomerKeys, "List rates", s.listRates},
		{post, "/v1/rates/import", OperatorOnly, "Replace a rate deck from CSV", s.importRates},
		{get, "/v1/rates/lookup", CustomerKeys, "Find the rate a number would be priced at", s.lookupRate},
		{get, "/v1/rates/{id}", CustomerKeys, "Get a rate", s.getRate},
		{patch, "/v1/rates/{id}", OperatorOnly, "Update a rate", s.updateRate},
		{del, "/v1/rates/{id}", OperatorOnly, "Delete a rate", s.deleteRate},

		{post, "/v1/trunks", OperatorOnly, "Create a SIP trunk", s.createTrunk},
		{get, "/v1/trunks", OperatorOnly, "List trunks", s.listTrunks},
		{get, "/v1/trunks/{id}", OperatorOnly, "Get a trunk", s.getTrunk},
		{patch, "/v1/trunks/{id}", OperatorOnly, "Update a trunk", s.updateTrunk},
		{del, "/v1/trunks/{id}", OperatorOnly, "Delete a trunk", s.deleteTrunk},
		{get, "/v1/sip/refusals", OperatorOnly, "List INVITEs refused before they reached a customer", s.listSIPRefusals},

		{post, "/v1/numbers", OperatorOnly, "Create a number (DID)", s.createNumber},
		{get, "/v1/numbers", CustomerKeys, "List numbers", s.listNumbers},
		{get, "/v1/numbers/{id}", CustomerKeys, "Get a number", s.getNumber},
		{patch, "/v1/numbers/{id}", CustomerKeys, "Update a number (customers: application_id only)", s.updateNumber},
		{del, "/v1/numbers/{id}", OperatorOnly, "Delete a number", s.deleteNumber},

		{post, "/v1/applications", CustomerKeys, "Create an application", s.createApplication},
		{get, "/v1/applications", AnyKey, "List applications", s.listApplications},
		{get, "/v1/applications/{id}", AnyKey, "Get an application", s.getApplication},
		{patch, "/v1/applications/{id}", AnyKey, "Update an application", s.updateApplication},
		{del, "/v1/applications/{id}", CustomerKeys, "Delete an application", s.deleteApplication},
		{post, "/v1/applications/{id}/keys", CustomerKeys, "Create an application key", s.createApplicationKey},
		{get, "/v1/applications/{id}/keys", CustomerKeys, "List an application's keys", s.listApplicationKeys},
		{post, "/v1/applications/{id}/webhook-secret/rotate", CustomerKeys, "Rotate the webhook secret", s.rotateWebhookSecret},
		{post, "/v1/applications/{id}/webhook-test", AnyKey, "Send a test webhook and report the receiver's answer", s.webhookTest},

		{post, "/v1/calls", AnyKey, "Create (place) a call", s.createCall},
		{get, "/v1/calls", AnyKey, "List calls", s.listCalls},
		{get, "/v1/calls/{id}", AnyKey, "Get a call", s.getCall},
		{post, "/v1/calls/{id}/hangup", AnyKey, "Hang up a live call", s.hangupCall},
		{post, "/v1/calls/{id}/actions", AnyKey, "Replace what a live call is doing", s.replaceActions},
		{post, "/v1/calls/{id}/streams", AnyKey, "Start a one-way media stream on a live call", s.startStream},
		{del, "/v1/calls/{id}/streams/{stream_id}", AnyKey, "Stop a media stream", s.stopStream},
		{get, "/v1/calls/{id}/events", AnyKey, "List a call's events, oldest first", s.listCallEvents},
		{get, "/v1/calls/{id}/transcription", AnyKey, "Get the transcription of a call's recording", s.getTranscription},
		{get, "/v1/calls/{id}/summary", AnyKey, "Get the summary of a call's recording", s.getSummary},
		{get, "/v1/calls/{id}/score", AnyKey, "Get the score of a call's recording", s.getScore},
		{get, "/v1/calls/{id}/topics", AnyKey, "Get the topics of a call's recording", s.getTopics},
		{post, "/v1/calls/{id}/reviews", AnyKey, "Review a call (record a verdict)", s.createReview},
		{get, "/v1/calls/{id}/reviews", AnyKey, "List a call's reviews, newest first", s.listReviews},

		{get, "/v1/recordings", AnyKey, "List recordings", s.listRecordings},
		{get, "/v1/recordings/{id}", AnyKey, "Get a recording", s.getRecording},
		{get, "/v1/recordings/{id}/media", AnyKey, "Download a recording's WAV file (Range supported)", s.recordingMedia},
		{del, "/v1/recordings/{id}", CustomerKeys, "Delete a recording and its file", s.deleteRecording},

		{get, "/v1/events", AnyKey, "List events", s.listEvents},
		{get, "/v1/events/{id}", AnyKey, "Get an event with its delivery attempts", s.getEvent},
		{post, "/v1/events/{id}/redeliver", AnyKey, "Queue one more delivery of an event's webhook", s.redeliverEvent},

		{get, "/v1/usage", CustomerKeys, "Usage per day and direction", s.usage},
	}
}
