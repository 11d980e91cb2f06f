//! The diesel schema shared by both backends: portable column types only, kept by hand in step
//! with `migrations/sqlite` and `migrations/postgres`.

diesel::table! {
    datasets (id) {
        id -> Text,
        name -> Text,
        version -> Integer,
        digest -> Text,
        item_count -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    dataset_items (dataset_id, position) {
        dataset_id -> Text,
        position -> Integer,
        item_id -> Text,
        category -> Text,
        question -> Text,
        choices -> Text,
        answer -> Text,
        explanation -> Nullable<Text>,
        source -> Nullable<Text>,
    }
}

diesel::table! {
    runs (id) {
        id -> Text,
        provider_name -> Text,
        dataset_name -> Text,
        dataset_id -> Text,
        dataset_version -> Integer,
        dataset_digest -> Text,
        model_name -> Text,
        status -> Text,
        settings -> Text,
        pending_count -> BigInt,
        running_count -> BigInt,
        awaiting_count -> BigInt,
        correct_count -> BigInt,
        incorrect_count -> BigInt,
        failed_count -> BigInt,
        canceled_count -> BigInt,
        resumed_count -> Integer,
        last_resumed_at -> Nullable<Timestamp>,
        cancel_requested_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        retry_count -> Integer,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        usage -> Nullable<Text>,
        latency -> Nullable<Text>,
        fingerprint -> Nullable<Text>,
        rejudge_count -> Integer,
        rejudging -> Bool,
        unparsed_count -> BigInt,
        cut_off_count -> BigInt,
        judge_fallback_count -> BigInt,
        judging_round -> Integer,
    }
}

diesel::table! {
    run_items (run_id, sequence) {
        run_id -> Text,
        sequence -> Integer,
        dataset_id -> Text,
        dataset_position -> Integer,
        state -> Text,
        attempt_count -> Integer,
        started_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        updated_at -> Timestamp,
        lease_owner -> Nullable<Text>,
        lease_expires_at -> Nullable<Timestamp>,
        prompt_text -> Nullable<Text>,
        response_text -> Nullable<Text>,
        reasoning_text -> Nullable<Text>,
        request_key -> Nullable<Text>,
        cut_off -> Nullable<Text>,
        extracted_answer -> Nullable<Text>,
        extraction_tier -> Nullable<Text>,
        judge -> Nullable<Text>,
        judge_rationale -> Nullable<Text>,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        queued_at -> Nullable<Timestamp>,
        first_token_at -> Nullable<Timestamp>,
        answered_at -> Nullable<Timestamp>,
        judged_at -> Nullable<Timestamp>,
        prompt_tokens -> Nullable<Integer>,
        completion_tokens -> Nullable<Integer>,
        reasoning_tokens -> Nullable<Integer>,
        cost_usd -> Nullable<Double>,
    }
}

diesel::table! {
    item_attempts (id) {
        id -> BigInt,
        run_id -> Text,
        sequence -> Integer,
        attempt -> Integer,
        outcome -> Nullable<Text>,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        started_at -> Timestamp,
        finished_at -> Nullable<Timestamp>,
        worker -> Nullable<Text>,
        first_token_at -> Nullable<Timestamp>,
        prompt_tokens -> Nullable<Integer>,
        completion_tokens -> Nullable<Integer>,
        reasoning_tokens -> Nullable<Integer>,
        cost_usd -> Nullable<Double>,
        page -> Nullable<Text>,
    }
}

diesel::table! {
    item_judgments (id) {
        id -> BigInt,
        run_id -> Text,
        sequence -> Integer,
        attempt -> Integer,
        verdict -> Text,
        extracted_answer -> Nullable<Text>,
        extraction_tier -> Text,
        judge -> Text,
        rationale -> Nullable<Text>,
        created_at -> Timestamp,
        rejudge_round -> Integer,
        prompt_tokens -> Nullable<Integer>,
        completion_tokens -> Nullable<Integer>,
        reasoning_tokens -> Nullable<Integer>,
        cost_usd -> Nullable<Double>,
        round_undone -> Bool,
    }
}

diesel::table! {
    run_logs (id) {
        id -> BigInt,
        run_id -> Text,
        sequence -> Nullable<Integer>,
        level -> Text,
        message -> Text,
        created_at -> Timestamp,
        tx -> BigInt,
    }
}

diesel::table! {
    run_events (id) {
        id -> BigInt,
        run_id -> Text,
        kind -> Text,
        payload -> Text,
        created_at -> Timestamp,
        sequence -> Nullable<Integer>,
        tx -> BigInt,
    }
}

diesel::table! {
    run_latency_histograms (run_id) {
        run_id -> Text,
        histogram -> Text,
    }
}

diesel::table! {
    run_answering_ends (run_id) {
        run_id -> Text,
        status -> Text,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        cancel_requested_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    rejudge_previous_runs (run_id) {
        run_id -> Text,
        settings -> Text,
        fingerprint -> Nullable<Text>,
        status -> Text,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
        cancel_requested_at -> Nullable<Timestamp>,
        finished_at -> Nullable<Timestamp>,
        rejudging -> Bool,
        judging_round -> Integer,
    }
}

diesel::table! {
    rejudge_previous_items (run_id, sequence) {
        run_id -> Text,
        sequence -> Integer,
        state -> Text,
        finished_at -> Nullable<Timestamp>,
        extracted_answer -> Nullable<Text>,
        extraction_tier -> Nullable<Text>,
        judge -> Nullable<Text>,
        judge_rationale -> Nullable<Text>,
        judged_at -> Nullable<Timestamp>,
        error_kind -> Nullable<Text>,
        error_message -> Nullable<Text>,
    }
}

diesel::table! {
    run_event_horizon (id) {
        id -> Integer,
        pruned_through -> BigInt,
        pruned_tx -> BigInt,
    }
}

diesel::table! {
    idempotency_keys (key) {
        key -> Text,
        request_hash -> Text,
        run_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    harness_packs (id) {
        id -> Text,
        key_id -> Text,
        dataset_id -> Text,
        target -> Text,
        item_count -> BigInt,
        payload_sha256 -> Text,
        issued_at -> Timestamp,
        expires_at -> Timestamp,
        selection -> Nullable<Text>,
    }
}

diesel::table! {
    harness_imports (bundle_digest) {
        bundle_digest -> Text,
        pack_id -> Text,
        run_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    installation_secrets (name) {
        name -> Text,
        secret -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(dataset_items -> datasets (dataset_id));
diesel::joinable!(runs -> datasets (dataset_id));
diesel::joinable!(run_logs -> runs (run_id));
diesel::joinable!(run_events -> runs (run_id));
diesel::joinable!(run_latency_histograms -> runs (run_id));
diesel::joinable!(run_answering_ends -> runs (run_id));
diesel::joinable!(rejudge_previous_runs -> runs (run_id));
diesel::joinable!(idempotency_keys -> runs (run_id));
diesel::joinable!(harness_packs -> datasets (dataset_id));
diesel::joinable!(harness_imports -> runs (run_id));

diesel::allow_tables_to_appear_in_same_query!(
    datasets,
    dataset_items,
    runs,
    run_items,
    item_attempts,
    item_judgments,
    run_logs,
    run_events,
    run_event_horizon,
    run_latency_histograms,
    run_answering_ends,
    rejudge_previous_runs,
    rejudge_previous_items,
    idempotency_keys,
    harness_packs,
    harness_imports,
    installation_secrets,
);
